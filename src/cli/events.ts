import type { Command } from 'commander';
import type { Subjects } from '../protocol/index.js';
import { parseDuration } from './duration.js';
import type { Format } from './output.js';
import { parseCount } from './parse.js';
import { dataText, subscribeUntil } from './sub.js';

// `admiral events` (Choria's `tool event`): node lifecycle events (`adm.evt.<node>.online|offline|
// hello`) and job events (`adm.job.<id>.started|finished`), one line each.

interface EventsFlags {
  broker?: string;
  dataDir?: string;
  format?: Format;
  count?: number;
  timeout?: number;
  type?: string[];
}

const KINDS = ['node', 'job'] as const;

/** One event as a line of text: `12:00:01.123 node ship1 online`. */
export function describeEvent(subjects: Subjects, subject: string, body: unknown): string {
  const at =
    body !== null && typeof body === 'object' && typeof (body as { at?: unknown }).at === 'number'
      ? new Date((body as { at: number }).at)
      : new Date();
  const time = at.toISOString().slice(11, 23);
  const rest = subject.slice(subjects.prefix.length + 1).split('.');
  if (rest[0] === 'evt') return `${time} node ${rest[1]} ${rest[2]}`;
  if (rest[0] === 'job') return `${time} job ${rest[1]} ${rest[2]}`;
  return `${time} ${subject}`;
}

export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('print node online/offline/hello and job started/finished events as they happen')
    .option('--type <kinds>', 'node, job or both (comma separated); default both', (v) =>
      v.split(',').map((s) => s.trim()),
    )
    .option('--count <n>', 'stop after this many events', parseCount)
    .option('--timeout <duration>', 'stop after this long', parseDuration)
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<EventsFlags>();
      const kinds = opts.type ?? [...KINDS];
      for (const k of kinds) {
        if (!(KINDS as readonly string[]).includes(k)) {
          throw new Error(`Expected --type to be node, job or node,job, got "${k}"`);
        }
      }
      const format = opts.format ?? 'text';
      let subjects: Subjects | undefined;
      await subscribeUntil(
        opts,
        (s) => {
          subjects = s;
          return [
            ...(kinds.includes('node') ? [s.eventSubscription()] : []),
            ...(kinds.includes('job') ? [s.jobEventSubscription()] : []),
          ];
        },
        (subject, data) => {
          if (subjects === undefined) return false;
          let body: unknown;
          try {
            body = JSON.parse(dataText(data));
          } catch {
            body = dataText(data);
          }
          const kind = subject.startsWith(`${subjects.prefix}.job.`) ? 'job' : 'node';
          process.stdout.write(
            format === 'text'
              ? `${describeEvent(subjects, subject, body)}\n`
              : `${JSON.stringify({ subject, kind, event: body })}\n`,
          );
          return true;
        },
        () => process.stderr.write('listening for events\n'),
      );
    });
}
