import type { Database, Statement } from 'better-sqlite3';
import type { Migration } from './migrate.js';

// The central's node inventory: one row per node ever seen, its latest facts (JSON text), whether
// it is online, and when it was last heard from. Written from hello/online/offline events.

export const inventoryMigrations: readonly Migration[] = [
  {
    version: 5,
    name: 'inventory: create table',
    up(db) {
      db.exec(`
        CREATE TABLE inventory (
          node        TEXT PRIMARY KEY NOT NULL,
          public_key  TEXT NOT NULL,
          central     INTEGER NOT NULL CHECK (central IN (0, 1)),
          version     TEXT NOT NULL,
          online      INTEGER NOT NULL CHECK (online IN (0, 1)),
          first_seen  INTEGER NOT NULL,
          last_seen   INTEGER NOT NULL,
          last_event  TEXT NOT NULL,
          hello_ms    INTEGER NOT NULL,
          facts       TEXT NOT NULL
        ) STRICT;
      `);
    },
  },
];

/** One node as the inventory knows it (a type alias, so it is assignable to a plain record). */
export type InventoryRecord = {
  readonly node: string;
  readonly publicKey: string;
  readonly central: boolean;
  readonly version: string;
  readonly online: boolean;
  /** Unix ms. */
  readonly firstSeen: number;
  /** Unix ms of the last event heard from the node. */
  readonly lastSeen: number;
  /** online, offline, hello, or stale (hellos stopped). */
  readonly lastEvent: string;
  /** The node's hello interval in ms (0: unknown or disabled). */
  readonly helloMs: number;
  readonly facts: Readonly<Record<string, unknown>>;
};

interface Row {
  node: string;
  public_key: string;
  central: number;
  version: string;
  online: number;
  first_seen: number;
  last_seen: number;
  last_event: string;
  hello_ms: number;
  facts: string;
}

function parseFacts(text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

const toRecord = (r: Row): InventoryRecord => ({
  node: r.node,
  publicKey: r.public_key,
  central: r.central === 1,
  version: r.version,
  online: r.online === 1,
  firstSeen: r.first_seen,
  lastSeen: r.last_seen,
  lastEvent: r.last_event,
  helloMs: r.hello_ms,
  facts: parseFacts(r.facts),
});

/** Row access to the `inventory` table. */
export class InventoryStore {
  readonly #list: Statement<[], Row>;
  readonly #upsert: Statement<Row>;
  readonly #delete: Statement<[string]>;

  constructor(readonly db: Database) {
    this.#list = db.prepare('SELECT * FROM inventory ORDER BY node');
    this.#delete = db.prepare('DELETE FROM inventory WHERE node = ?');
    this.#upsert = db.prepare(`
      INSERT INTO inventory (node, public_key, central, version, online, first_seen, last_seen,
                             last_event, hello_ms, facts)
      VALUES (@node, @public_key, @central, @version, @online, @first_seen, @last_seen,
              @last_event, @hello_ms, @facts)
      ON CONFLICT (node) DO UPDATE SET
        public_key = excluded.public_key, central = excluded.central, version = excluded.version,
        online = excluded.online, last_seen = excluded.last_seen, last_event = excluded.last_event,
        hello_ms = excluded.hello_ms, facts = excluded.facts
    `);
  }

  list(): InventoryRecord[] {
    return this.#list.all().map(toRecord);
  }

  delete(node: string): boolean {
    return this.#delete.run(node).changes > 0;
  }

  /** Writes several records in one transaction. */
  putMany(records: readonly InventoryRecord[]): void {
    if (records.length === 0) return;
    this.db.transaction(() => {
      for (const r of records) {
        this.#upsert.run({
          node: r.node,
          public_key: r.publicKey,
          central: r.central ? 1 : 0,
          version: r.version,
          online: r.online ? 1 : 0,
          first_seen: r.firstSeen,
          last_seen: r.lastSeen,
          last_event: r.lastEvent,
          hello_ms: r.helloMs,
          facts: JSON.stringify(r.facts),
        });
      }
    })();
  }
}
