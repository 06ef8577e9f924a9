import { pythonJson } from '../central/python-json.js';
import { type AdmiralClient, connectClient } from '../client/connect.js';
import type { Format } from './output.js';

// What the broker-service commands (ping, service, execute) share: the global flags, one
// connection per command, and bpclient's way of printing a result.

/** The global flags (main.ts), read with `command.optsWithGlobals()`. */
export interface GlobalFlags {
  readonly broker?: string;
  readonly accessKey?: string;
  readonly dataDir?: string;
  /** `--central-wait`, in seconds. */
  readonly centralWait?: number;
  readonly format?: Format;
  readonly cols?: string[];
}

/** Connects (within `timeoutMs`), runs `fn`, and closes the connection whatever happens. */
export async function withClient<T>(
  flags: GlobalFlags,
  timeoutMs: number,
  fn: (client: AdmiralClient) => Promise<T>,
): Promise<T> {
  const client = await connectClient({
    ...(flags.broker !== undefined && { broker: flags.broker }),
    ...(flags.dataDir !== undefined && { dataDir: flags.dataDir }),
    ...(flags.centralWait !== undefined && { centralWaitMs: flags.centralWait * 1000 }),
    timeoutMs,
  });
  try {
    return await fn(client);
  } finally {
    await client.close().catch(() => undefined);
  }
}

/**
 * A result as bpclient prints it: a string as it is, nothing for none, anything else as Python's
 * json.dumps writes it. With `--format json` every result is JSON (a string in quotes).
 */
export function formatResult(value: unknown, format: Format | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string' && (format === undefined || format === 'text')) return `${value}\n`;
  return `${pythonJson(value)}\n`;
}
