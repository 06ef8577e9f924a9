import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import type { Logger } from '../observability/logger.js';
import type { RegistryState } from '../store/registry-state.js';
import type { ServiceEntry } from '../store/services.js';

// Scheduled backups of the service registry (bpbroker's backup_freq_secs / backup_retain_n):
// one JSON file per backup, `registry-<UTC time>.json`, written atomically; the oldest beyond
// the retention are deleted. `admiral service restore --backup FILE` puts one back.

export const BACKUP_FORMAT = 'admiral-registry-backup';

const BackupFileSchema = z.strictObject({
  format: z.literal(BACKUP_FORMAT),
  version: z.literal(1),
  createdAt: z.string(),
  entries: z.array(
    z.strictObject({
      name: z.string().min(1),
      value: z.string(),
      isObject: z.boolean(),
      updatedAt: z.number().int().nonnegative(),
    }),
  ),
});

const BACKUP_FILE = /^registry-\d{8}T\d{9}Z\.json$/;

function stamp(ms: number): string {
  // 2025-01-02T03:04:05.678Z → 20250102T030405678Z: sorts by time, safe in every file system.
  return new Date(ms).toISOString().replace(/[-:.]/g, '');
}

/** Backup files in `dir`, oldest first. */
export function listBackups(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => BACKUP_FILE.test(n))
    .sort()
    .map((n) => join(dir, n));
}

/** Writes one backup of every entry; returns its path. */
export async function writeBackup(
  store: RegistryState,
  dir: string,
  now = Date.now(),
): Promise<string> {
  const entries = await store.list();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `registry-${stamp(now)}.json`);
  const body = {
    format: BACKUP_FORMAT,
    version: 1,
    createdAt: new Date(now).toISOString(),
    entries,
  };
  const tmp = `${file}.${process.pid}.tmp`;
  // The registry may hold credentials of the services registered in it.
  writeFileSync(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return file;
}

/** Deletes the oldest backups so that at most `retain` remain; returns the deleted paths. */
export function pruneBackups(dir: string, retain: number): string[] {
  const all = listBackups(dir);
  const old = all.slice(0, Math.max(0, all.length - retain));
  for (const f of old) rmSync(f, { force: true });
  return old;
}

/** Reads and checks a backup file. */
export function readBackup(file: string): ServiceEntry[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read backup ${file}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = BackupFileSchema.safeParse(data);
  if (!parsed.success) {
    throw new Error(`${file} is not a registry backup: ${parsed.error.issues[0]?.message ?? ''}`);
  }
  return parsed.data.entries;
}

/** Replaces the registry with a backup's entries; returns their count. */
export async function restoreBackup(store: RegistryState, file: string): Promise<number> {
  const entries = readBackup(file);
  await store.replaceAll(entries);
  return entries.length;
}

export interface BackupScheduleOptions {
  readonly store: RegistryState;
  readonly dir: string;
  /** Seconds between backups; 0 disables. */
  readonly freqSecs: number;
  readonly retain: number;
  readonly log: Logger;
}

/** Backs the registry up every `freqSecs`; returns the function that stops it. */
export function scheduleBackups(options: BackupScheduleOptions): () => void {
  if (options.freqSecs <= 0) return () => undefined;
  const tick = (): void => {
    writeBackup(options.store, options.dir)
      .then(() => pruneBackups(options.dir, options.retain))
      .catch((err: unknown) => {
        options.log('warn', 'registry backup failed', { dir: options.dir, error: String(err) });
      });
  };
  const timer = setInterval(tick, options.freqSecs * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
