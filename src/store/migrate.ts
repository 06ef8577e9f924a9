import type { Database } from 'better-sqlite3';
import { StoreMigrationError } from './errors.js';

/**
 * One schema change. `version` is global across table families and never reused or reordered:
 * the database's `PRAGMA user_version` records the highest version applied.
 */
export interface Migration {
  readonly version: number;
  /** Short description, e.g. "outbox: create table". */
  readonly name: string;
  /** Runs inside the migration's transaction; must not commit or open its own transaction. */
  readonly up: (db: Database) => void;
}

/** What `migrate` did. */
export interface MigrationResult {
  readonly from: number;
  readonly to: number;
  readonly applied: readonly string[];
}

/** Checks that versions are 1..n, unique and ascending, so a merge that collides is caught early. */
export function checkMigrations(migrations: readonly Migration[], file: string): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new StoreMigrationError(
        `Expected migration #${i + 1} to have version ${i + 1}, got ${m.version} ("${m.name}")`,
        { file, version: m.version },
      );
    }
  });
}

/**
 * Applies every migration newer than the database's `user_version`, each in its own transaction
 * together with the `user_version` bump, so a crash leaves the database at a whole version.
 * Refuses a database whose version is newer than the code knows (a downgrade).
 */
export function migrate(
  db: Database,
  migrations: readonly Migration[],
  file: string,
): MigrationResult {
  checkMigrations(migrations, file);
  const from = db.pragma('user_version', { simple: true }) as number;
  const latest = migrations.length;
  if (from > latest) {
    throw new StoreMigrationError(
      `Database ${file} has schema version ${from}, newer than this admiral knows (${latest}); ` +
        'upgrade admiral or restore a backup',
      { file, version: from },
    );
  }
  const applied: string[] = [];
  for (const m of migrations.slice(from)) {
    let ran = false;
    const step = db.transaction(() => {
      // Re-read under the write lock: another process may have migrated since we looked.
      if ((db.pragma('user_version', { simple: true }) as number) >= m.version) return;
      m.up(db);
      // PRAGMA takes no bound parameters; the version is an integer we checked above.
      db.pragma(`user_version = ${m.version}`);
      ran = true;
    });
    try {
      // IMMEDIATE takes the write lock first, so two processes opening at once do not both migrate.
      step.immediate();
    } catch (err) {
      throw new StoreMigrationError(
        `Migration ${m.version} ("${m.name}") failed on ${file}: ${(err as Error).message}`,
        { file, version: m.version },
        { cause: err },
      );
    }
    if (ran) applied.push(m.name);
  }
  return { from, to: latest, applied };
}
