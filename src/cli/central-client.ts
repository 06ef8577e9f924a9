import { pythonJson } from '../central/python-json.js';
import { type AdmiralClient, connectClient } from '../client/connect.js';
import { resolve } from 'node:path';
import { CliError } from './errors.js';
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
  } catch (err) {
    throw withDataDirHint(err, client, flags.dataDir);
  } finally {
    await client.close().catch(() => undefined);
  }
}

/**
 * A refusal for an untrusted key, from a CLI that found no node's data dir and so signed with a
 * key made for this one call: trusting that key would help nobody, the data dir is the fix.
 */
export function withDataDirHint(err: unknown, client: AdmiralClient, dataDir?: string): unknown {
  const text = err instanceof Error ? err.message : '';
  if (client.localIdentity || !/untrusted key/.test(text)) return err;
  const dir = resolve(dataDir ?? process.env.ADMIRAL_DATA_DIR ?? 'admiral-data');
  return new CliError(
    `${text}\nThis CLI found no node identity at ${dir}/identity.seed, so it signed with a new key made for this one call (trusting it would not help). Run it in the folder that holds admiral-data (where admiral up runs), or give --data-dir DIR or ADMIRAL_DATA_DIR=DIR of the central's data dir (or of an operator key's node that central trusts).`,
    1,
    { cause: err },
  );
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
