import type { Database, Statement } from 'better-sqlite3';
import type { Migration } from './migrate.js';
import type { RegistryState } from './registry-state.js';

// The central's key/value service registry (bpbroker's "service" store): one row per name. The
// value is kept as text; `is_object` says it is a JSON object (which gets last_write_ts and
// last_write_ip merged in), so plain strings come back exactly as they were given.

export const servicesMigrations: readonly Migration[] = [
  {
    version: 3,
    name: 'services: create table',
    up(db) {
      db.exec(`
        CREATE TABLE services (
          name       TEXT PRIMARY KEY NOT NULL,
          value      TEXT NOT NULL,
          is_object  INTEGER NOT NULL CHECK (is_object IN (0, 1)),
          updated_at INTEGER NOT NULL
        ) STRICT;
      `);
    },
  },
];

/** One registry entry as stored. */
export interface ServiceEntry {
  readonly name: string;
  /** The data as given, or the JSON text of an object. */
  readonly value: string;
  readonly isObject: boolean;
  /** Unix ms of the last write. */
  readonly updatedAt: number;
}

interface Row {
  name: string;
  value: string;
  is_object: number;
  updated_at: number;
}

const toEntry = (r: Row): ServiceEntry => ({
  name: r.name,
  value: r.value,
  isObject: r.is_object === 1,
  updatedAt: r.updated_at,
});

/** Row access to the `services` table; every write is committed before it returns. */
export class ServiceStore {
  readonly #get: Statement<[string], Row>;
  readonly #list: Statement<[], Row>;
  readonly #put: Statement<[string, string, number, number]>;
  readonly #insert: Statement<[string, string, number, number]>;
  readonly #delete: Statement<[string]>;
  readonly #clear: Statement<[]>;

  constructor(readonly db: Database) {
    this.#get = db.prepare('SELECT * FROM services WHERE name = ?');
    this.#list = db.prepare('SELECT * FROM services ORDER BY name');
    this.#put = db.prepare(
      `INSERT INTO services (name, value, is_object, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET value = excluded.value, is_object = excluded.is_object,
       updated_at = excluded.updated_at`,
    );
    this.#insert = db.prepare(
      'INSERT OR IGNORE INTO services (name, value, is_object, updated_at) VALUES (?, ?, ?, ?)',
    );
    this.#delete = db.prepare('DELETE FROM services WHERE name = ?');
    this.#clear = db.prepare('DELETE FROM services');
  }

  get(name: string): ServiceEntry | undefined {
    const row = this.#get.get(name);
    return row === undefined ? undefined : toEntry(row);
  }

  list(): ServiceEntry[] {
    return this.#list.all().map(toEntry);
  }

  /** Inserts or overwrites. */
  put(entry: ServiceEntry): void {
    this.#put.run(entry.name, entry.value, entry.isObject ? 1 : 0, entry.updatedAt);
  }

  /** Inserts unless the name exists; false when it did. */
  insert(entry: ServiceEntry): boolean {
    return (
      this.#insert.run(entry.name, entry.value, entry.isObject ? 1 : 0, entry.updatedAt).changes ===
      1
    );
  }

  delete(name: string): boolean {
    return this.#delete.run(name).changes === 1;
  }

  /** Runs `fn` in one IMMEDIATE transaction (read-modify-write without a race). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  /** Replaces every entry with `entries`, atomically (restore from a backup). */
  replaceAll(entries: readonly ServiceEntry[]): void {
    this.transaction(() => {
      this.#clear.run();
      for (const e of entries) this.put(e);
    });
  }
}

/** The SQLite table as the registry's state: a single central's default. */
export function sqliteRegistryState(store: ServiceStore): RegistryState {
  return {
    get: async (name) => store.get(name),
    list: async () => store.list(),
    put: async (entry) => store.put(entry),
    insert: async (entry) => store.insert(entry),
    modify: async (name, next) =>
      store.transaction(() => {
        const entry = next(store.get(name));
        store.put(entry);
        return entry;
      }),
    delete: async (name) => store.delete(name),
    replaceAll: async (entries) => store.replaceAll(entries),
  };
}
