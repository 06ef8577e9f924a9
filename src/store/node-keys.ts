import type { Database, Statement } from 'better-sqlite3';
import type { Migration } from './migrate.js';

// The key each node name is known by on this node (DESIGN.md, "Security by default": a node is not
// trusted beyond its own name). One row per node: its key, and how it became known — enrolled by
// central, pinned on first contact (as SSH's known_hosts), or revoked by an operator.

export const nodeKeyMigrations: readonly Migration[] = [
  {
    version: 8,
    name: 'node_keys: create table',
    up(db) {
      db.exec(`
        CREATE TABLE node_keys (
          node        TEXT PRIMARY KEY NOT NULL,
          public_key  TEXT NOT NULL,
          source      TEXT NOT NULL CHECK (source IN ('pinned', 'enrolled', 'revoked')),
          updated_at  INTEGER NOT NULL
        ) STRICT;
      `);
    },
  },
];

export const NODE_KEY_SOURCES = ['pinned', 'enrolled', 'revoked'] as const;
export type NodeKeySource = (typeof NODE_KEY_SOURCES)[number];

export interface NodeKeyRecord {
  readonly node: string;
  readonly publicKey: string;
  readonly source: NodeKeySource;
  /** Unix ms. */
  readonly updatedAt: number;
}

interface Row {
  node: string;
  public_key: string;
  source: NodeKeySource;
  updated_at: number;
}

const toRecord = (r: Row): NodeKeyRecord => ({
  node: r.node,
  publicKey: r.public_key,
  source: r.source,
  updatedAt: r.updated_at,
});

/** Row access to the `node_keys` table. */
export class NodeKeyStore {
  readonly #list: Statement<[], Row>;
  readonly #upsert: Statement<Row>;
  readonly #delete: Statement<[string]>;
  readonly #get: Statement<[string], Row>;

  constructor(readonly db: Database) {
    this.#list = db.prepare('SELECT * FROM node_keys ORDER BY node');
    this.#upsert = db.prepare(`
      INSERT INTO node_keys (node, public_key, source, updated_at)
      VALUES (@node, @public_key, @source, @updated_at)
      ON CONFLICT (node) DO UPDATE SET
        public_key = excluded.public_key, source = excluded.source, updated_at = excluded.updated_at
    `);
    this.#delete = db.prepare('DELETE FROM node_keys WHERE node = ?');
    this.#get = db.prepare('SELECT * FROM node_keys WHERE node = ?');
  }

  get(node: string): NodeKeyRecord | undefined {
    const r = this.#get.get(node);
    return r === undefined ? undefined : toRecord(r);
  }

  list(): NodeKeyRecord[] {
    return this.#list.all().map(toRecord);
  }

  /** Writes several records in one transaction. */
  putMany(records: readonly NodeKeyRecord[]): void {
    if (records.length === 0) return;
    this.db.transaction(() => {
      for (const r of records) {
        this.#upsert.run({
          node: r.node,
          public_key: r.publicKey,
          source: r.source,
          updated_at: r.updatedAt,
        });
      }
    })();
  }

  delete(node: string): boolean {
    return this.#delete.run(node).changes > 0;
  }
}
