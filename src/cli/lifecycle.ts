import { escapeControl } from '../observability/escape.js';

/** Resolves on the first SIGINT or SIGTERM, so a long-running command can shut down gracefully. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
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
