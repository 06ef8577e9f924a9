import type { Command } from 'commander';
import { connectClient } from '../client/connect.js';
import { parseDuration } from './duration.js';
import { CliError } from './errors.js';
import { parseCount } from './parse.js';
import { dataText } from './sub.js';

// `admiral pub SUBJECT DATA` (Choria's `tool pub`): publishes DATA (or, with `--request`, sends it
// as a request and prints the reply).

interface PubFlags {
  broker?: string;
  centralWait?: number;
  dataDir?: string;
  count: number;
  request?: boolean;
  timeout: number;
}

export function registerPub(program: Command): void {
  program
    .command('pub')
    .argument('<subject>', 'subject to publish on')
    .argument('[data]', 'the message; "-" or none reads stdin', '')
    .description('publish a message on a subject (like choria tool pub)')
    .option('--count <n>', 'publish it this many times', parseCount, 1)
    .option('--request', 'send as a request and print the reply')
    .option('--timeout <duration>', 'how long --request waits for the reply', parseDuration, 5)
    .action(async (subject: string, data: string, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<PubFlags>();
      let payload: Buffer;
      if (data === '-' || (data === '' && !process.stdin.isTTY)) {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        payload = Buffer.concat(chunks);
      } else payload = Buffer.from(data, 'utf8');
      const client = await connectClient({
        ...(opts.broker !== undefined && { broker: opts.broker }),
        ...(opts.dataDir !== undefined && { dataDir: opts.dataDir }),
        ...(opts.centralWait !== undefined && { centralWaitMs: opts.centralWait * 1000 }),
      });
      try {
        for (let i = 0; i < opts.count; i++) {
          if (opts.request === true) {
            let reply: Uint8Array;
            try {
              reply = (
                await client.nc.request(subject, payload, {
                  timeout: Math.round(opts.timeout * 1000),
                })
              ).data;
            } catch (err) {
              throw new CliError(
                `no reply on ${subject}: ${err instanceof Error ? err.message : String(err)}`,
                1,
                { cause: err },
              );
            }
            process.stdout.write(`${dataText(reply)}\n`);
          } else client.nc.publish(subject, payload);
        }
        await client.nc.flush();
        if (opts.request !== true) {
          process.stderr.write(`published ${opts.count} message(s) on ${subject}\n`);
        }
      } finally {
        await client.close();
      }
    });
}
