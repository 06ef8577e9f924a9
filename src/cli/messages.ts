import { type Command, InvalidArgumentError } from 'commander';
import { OutboxState } from '../store/outbox.js';
import { type Format, renderRows } from './output.js';
import { localDataDir, openLocalOutbox } from './system.js';

const STATES = Object.values(OutboxState) as string[];

function parseState(value: string): OutboxState {
  if (STATES.includes(value)) return value as OutboxState;
  throw new InvalidArgumentError(`expected one of ${STATES.join(', ')}, got "${value}"`);
}

const DEFAULT_COLS = ['id', 'toNode', 'method', 'state', 'attempts', 'created', 'error'];
const MESSAGE_COLS = [...DEFAULT_COLS, 'kind', 'finished', 'result'];

export function registerMessages(program: Command): void {
  program
    .command('messages')
    .description('list the messages this node sent and the state each one is in')
    .option('--state <state>', `only this state (${STATES.join(', ')})`, parseState)
    .option('--limit <n>', 'at most this many, newest first', (v) => Number.parseInt(v, 10), 100)
    .action((_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{
        state?: OutboxState;
        limit: number;
        dataDir?: string;
        format?: Format;
        cols?: string[];
      }>();
      const { outbox, close } = openLocalOutbox(localDataDir(opts.dataDir));
      try {
        const rows = outbox
          .list({ limit: opts.limit, ...(opts.state && { state: opts.state }) })
          .map((r) => ({
            id: r.id,
            kind: r.kind,
            toNode: r.toNode,
            method: r.method,
            state: r.state,
            attempts: r.attempts,
            created: new Date(r.createdAt).toISOString(),
            finished: r.finishedAt === null ? '' : new Date(r.finishedAt).toISOString(),
            error: r.error ?? '',
            result: r.result,
          }));
        process.stdout.write(
          renderRows(rows, opts.format ?? 'text', opts.cols ?? DEFAULT_COLS, MESSAGE_COLS),
        );
      } finally {
        close();
      }
    });
}
