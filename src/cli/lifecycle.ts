import { escapeControl } from '../observability/escape.js';

/**
 * Resolves on the first SIGINT or SIGTERM, so a long-running command can shut down gracefully.
 * Started by `npx admiral …` (npm exec), the pid a user has is npm's, and npm exits on SIGTERM
 * without passing it on: the orphaned process then stops as if it got the signal itself.
 */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let watch: NodeJS.Timeout | undefined;
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      clearInterval(watch);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    if (process.env.npm_command === 'exec') {
      const parent = process.ppid;
      watch = setInterval(() => {
        if (process.ppid !== parent) onSignal('SIGTERM');
      }, 250);
      watch.unref();
    }
  });
}

/** Writes one log line to stderr: time, level, message and key=value fields. */
// The message and the fields may come from the wire: control bytes are escaped (escape.ts).
export function logLine(level: string, msg: string, fields?: Record<string, unknown>): void {
  const extra = fields
    ? Object.entries(fields)
        .map(([k, v]) => ` ${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join('')
    : '';
  const line = escapeControl(`${level.toUpperCase()} ${msg}${extra}`);
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}
