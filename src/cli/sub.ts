import type { Subscription } from '@nats-io/transport-node';
import type { Command } from 'commander';
import { connectClient } from '../client/connect.js';
import type { Subjects } from '../protocol/index.js';
import { parseDuration } from './duration.js';
import type { Format } from './output.js';
import { parseCount } from './parse.js';

// `admiral sub SUBJECT` (Choria's `tool sub`): prints what arrives on any subject, wildcards too.

interface SubFlags {
  broker?: string;
  dataDir?: string;
  format?: Format;
  count?: number;
  timeout?: number;
}

/** Message data as text when it is UTF-8, else base64 (marked). */
export function dataText(data: Uint8Array): string {
  const text = Buffer.from(data).toString('utf8');
  return Buffer.from(text, 'utf8').equals(Buffer.from(data))
    ? text
    : `base64:${Buffer.from(data).toString('base64')}`;
}

/**
 * Runs `handle` on every message of `subjects` until `count` messages were counted (`handle`
 * returns whether it counted one) or `timeout` seconds passed, whichever first; neither: until
 * SIGINT/SIGTERM. Returns how many were counted.
 */
export async function subscribeUntil(
  opts: {
    broker?: string;
    dataDir?: string;
    centralWait?: number;
    count?: number;
    timeout?: number;
  },
  subjects: (s: Subjects) => readonly string[],
  handle: (subject: string, data: Uint8Array, reply: string | undefined) => boolean,
  ready?: () => void,
): Promise<number> {
  const client = await connectClient({
    ...(opts.broker !== undefined && { broker: opts.broker }),
    ...(opts.dataDir !== undefined && { dataDir: opts.dataDir }),
    ...(opts.centralWait !== undefined && { centralWaitMs: opts.centralWait * 1000 }),
  });
  let counted = 0;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const subs: Subscription[] = [];
  const timer =
    opts.timeout !== undefined ? setTimeout(stop, Math.round(opts.timeout * 1000)) : undefined;
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    for (const subject of subjects(client.subjects)) {
      subs.push(
        client.nc.subscribe(subject, {
          callback: (err, msg) => {
            if (err || (opts.count !== undefined && counted >= opts.count)) return;
            if (!handle(msg.subject, msg.data, msg.reply === '' ? undefined : msg.reply)) return;
            counted++;
            if (opts.count !== undefined && counted >= opts.count) stop();
          },
        }),
      );
    }
    await client.nc.flush();
    ready?.();
    await stopped;
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    for (const s of subs) s.unsubscribe();
    await client.close();
  }
  return counted;
}

export function registerSub(program: Command): void {
  program
    .command('sub')
    .argument('<subject>', 'subject, wildcards allowed (adm.evt.>, adm.node.*.REQHello)')
    .description('print the messages published on a subject (like choria tool sub)')
    .option('--count <n>', 'stop after this many messages', parseCount)
    .option('--timeout <duration>', 'stop after this long', parseDuration)
    .action(async (subject: string, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<SubFlags>();
      const format = opts.format ?? 'text';
      await subscribeUntil(
        opts,
        () => [subject],
        (subj, data, reply) => {
          const text = dataText(data);
          process.stdout.write(
            format === 'text'
              ? `[${subj}]${reply !== undefined ? ` (reply ${reply})` : ''} ${text}\n`
              : `${JSON.stringify({ subject: subj, ...(reply !== undefined && { reply }), data: text })}\n`,
          );
          return true;
        },
        () => process.stderr.write(`listening on ${subject}\n`),
      );
    });
}
