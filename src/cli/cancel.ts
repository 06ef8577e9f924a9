import type { Command } from 'commander';
import { parseDuration } from './duration.js';
import { CliError } from './errors.js';
import { localDataDir, openLocalOutbox, submitToSocket } from './system.js';

// `admiral cancel ID --node NODE`: sends REQCancel through the local node and waits for its answer.
// The cancelled message's process group is killed on NODE and it ends `cancelled` at its sender.

const LIVE = new Set(['pending', 'delivered']);

function outputOf(result: unknown): string {
  if (typeof result === 'object' && result !== null && 'output' in result) {
    const output = (result as { output: unknown }).output;
    if (typeof output === 'string') return output;
  }
  return '';
}

/** Where this node sent message `id`, from its outbox; the --node flag when it did not send it. */
function targetOf(dataDir: string, id: string): string {
  const { outbox, close } = openLocalOutbox(dataDir);
  try {
    const rec = outbox.get(id);
    if (rec === undefined) {
      throw new CliError(
        `message ${id} is not in the outbox of ${dataDir}: give the node it runs on with --node NODE`,
      );
    }
    return rec.toNode;
  } finally {
    close();
  }
}

export function registerCancel(program: Command): void {
  program
    .command('cancel')
    .description(
      'cancel a running message by its id (REQCancel): its process group is killed and it ends cancelled',
    )
    .argument('<id>', 'id of the message to cancel')
    .option(
      '--node <node>',
      "the node the message runs on (default: its target in this node's outbox)",
    )
    .option('--wait <duration>', 'how long to wait for the answer (e.g. 30s)', '30s')
    .action(async (id: string, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ dataDir?: string; node?: string; wait: string }>();
      const dataDir = localDataDir(opts.dataDir);
      const waitMs = parseDuration(opts.wait) * 1000;
      const node = opts.node ?? targetOf(dataDir, id);
      const message = {
        toNode: node,
        method: 'REQCancel',
        methodArgs: [id],
        replyMethod: 'REQNone',
      };
      const result = await submitToSocket(dataDir, Buffer.from(JSON.stringify([message])));
      const cancelId = result.accepted[0];
      if (cancelId === undefined) {
        throw new CliError(
          `cancel refused: ${result.rejected.flatMap((r) => r.errors).join('; ')}`,
        );
      }
      const { outbox, close } = openLocalOutbox(dataDir);
      try {
        const deadline = Date.now() + waitMs;
        for (;;) {
          const rec = outbox.get(cancelId);
          if (rec && !LIVE.has(rec.state)) {
            if (rec.state === 'completed') {
              process.stdout.write(outputOf(rec.result) || `cancelled ${id} on ${node}\n`);
              return;
            }
            throw new CliError(
              `cancel of ${id} on ${node} ${rec.state}: ${rec.error ?? 'no error given'}`,
            );
          }
          if (Date.now() > deadline) {
            throw new CliError(
              `no answer from ${node} within ${opts.wait}; the cancel (${cancelId}) stays queued until it expires`,
              2,
            );
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        close();
      }
    });
}
