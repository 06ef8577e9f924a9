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

export function registerCancel(program: Command): void {
  program
    .command('cancel')
    .description(
      'cancel a running message by its id (REQCancel): its process group is killed and it ends cancelled',
    )
    .argument('<id>', 'id of the message to cancel')
    .requiredOption('--node <node>', 'the node the message runs on')
    .option('--wait <duration>', 'how long to wait for the answer (e.g. 30s)', '30s')
    .action(async (id: string, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ dataDir?: string; node: string; wait: string }>();
      const dataDir = localDataDir(opts.dataDir);
      const waitMs = parseDuration(opts.wait) * 1000;
      const message = {
        toNode: opts.node,
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
              process.stdout.write(outputOf(rec.result) || `cancelled ${id} on ${opts.node}\n`);
              return;
            }
            throw new CliError(
              `cancel of ${id} on ${opts.node} ${rec.state}: ${rec.error ?? 'no error given'}`,
            );
          }
          if (Date.now() > deadline) {
            throw new CliError(
              `no answer from ${opts.node} within ${opts.wait}; the cancel (${cancelId}) stays queued until it expires`,
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
