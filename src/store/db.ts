import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { StoreOpenError } from './errors.js';
import { type Migration, type MigrationResult, migrate } from './migrate.js';

/**
 * How hard SQLite pushes a commit to disk.
 * - `normal` (default): WAL with synchronous=NORMAL. A commit is written to the WAL file with
 *   write(2) before `run()` returns, so it survives the process being killed (kill -9, OOM, crash);
 *   it does not fsync, so the last commits can be lost if the machine loses power or the kernel
 *   panics. The database is never corrupted either way. This is the SQLite-recommended WAL setting.
 * - `full`: synchronous=FULL, fsync of the WAL on every commit; survives power loss as well, at the
 *   cost of one fsync per transaction (batch writes with `db.transaction` to amortise it).
 */
export const Synchronous = { normal: 'normal', full: 'full' } as const;
export type Synchronous = (typeof Synchronous)[keyof typeof Synchronous];

export interface OpenDatabaseOptions {
  /** Folder holding `admiral.db`; created (mode 0700) when missing. */
  dataDir: string;
  /** Durability of a commit; default `normal` (see `Synchronous`). */
  synchronous?: Synchronous;
  /** How long a write waits for another connection's lock before SQLITE_BUSY, in ms; default 5000. */
  busyTimeoutMs?: number;
  /** Migrations to apply, in version order; default none. */
  migrations?: readonly Migration[];
  /** Database file name inside `dataDir`; default `admiral.db`. */
  fileName?: string;
}

/** An open admiral database: the better-sqlite3 handle plus what opening it did. */
export interface AdmiralDatabase {
  readonly db: Database;
  readonly file: string;
  readonly migration: MigrationResult;
  /** Closes the handle; safe to call twice. Checkpoints the WAL back into the main file. */
  close(): void;
}

export const DEFAULT_DB_FILE = 'admiral.db';

/** Opens (creating if needed) `<dataDir>/admiral.db` with admiral's pragmas and migrations. */
export function openDatabase(options: OpenDatabaseOptions): AdmiralDatabase {
  const file = join(options.dataDir, options.fileName ?? DEFAULT_DB_FILE);
  let db: Database;
  try {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    db = new BetterSqlite3(file);
  } catch (err) {
    throw new StoreOpenError(
      `cannot open database ${file}: ${(err as Error).message}`,
      { file },
      { cause: err },
    );
  }
  try {
    // The database holds signed envelopes and results: readable by the node's user only.
    chmodSync(file, 0o600);
    db.pragma(`busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`);
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal') throw new Error(`journal_mode WAL refused (got ${String(mode)})`);
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    // 64 MiB of page cache (default 2 MiB): a fan-out to thousands of nodes touches outbox, inbox,
    // audit and job rows and their indexes; with the default they were re-read on each update.
    db.pragma('cache_size = -65536');
    const migration = migrate(db, options.migrations ?? [], file);
    // SQLite's advice for long-lived connections: analyse tables that need it, cheaply, at open.
    db.pragma('optimize = 0x10002');
    let closed = false;
    return {
      db,
      file,
      migration,
      close() {
        if (closed) return;
        closed = true;
        // Lets SQLite refresh planner statistics for the queries this connection ran (cheap).
        db.pragma('optimize');
        db.close();
      },
    };
  } catch (err) {
    db.close();
    if (err instanceof Error && 'code' in err && String(err.code).startsWith('ADMIRAL_')) throw err;
    throw new StoreOpenError(
      `cannot open database ${file}: ${(err as Error).message}`,
      { file },
      { cause: err },
    );
  }
}
