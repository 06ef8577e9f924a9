import type { Database, Statement } from 'better-sqlite3';
import { StoreStateError } from './errors.js';
import type { Migration } from './migrate.js';
import { asBuffer } from './outbox.js';

// The receiver's dedup and execution record. A message is committed here before it is ACKed;
// a second copy of the same id finds the row and is ACKed again without running
// (DESIGN.md: "retries never cause a second execution").

export const InboxState = {
  stored: 'stored',
  running: 'running',
  done: 'done',
  interrupted: 'interrupted',
  rejected: 'rejected',
  cancelled: 'cancelled',
  /** Stored (ACKed) but its time to live ran out before it could run. */
  expired: 'expired',
} as const;
export type InboxState = (typeof InboxState)[keyof typeof InboxState];

export const INBOX_TERMINAL_STATES = [
  'done',
  'interrupted',
  'rejected',
  'cancelled',
  'expired',
] as const satisfies readonly InboxState[];
export type InboxTerminalState = (typeof INBOX_TERMINAL_STATES)[number];

export const inboxMigrations: readonly Migration[] = [
  {
    version: 2,
    name: 'inbox: create table',
    up(db) {
      db.exec(`
        CREATE TABLE inbox (
          id          TEXT PRIMARY KEY NOT NULL,
          from_node   TEXT NOT NULL,
          method      TEXT NOT NULL,
          envelope    BLOB NOT NULL,
          state       TEXT NOT NULL DEFAULT 'stored' CHECK (state IN
                        ('stored','running','done','interrupted','rejected','cancelled','expired')),
          received_at INTEGER NOT NULL,
          expires_at  INTEGER NOT NULL,
          started_at  INTEGER,
          finished_at INTEGER,
          result      TEXT
        ) STRICT;
        CREATE INDEX inbox_runnable ON inbox (received_at) WHERE state = 'stored';
        CREATE INDEX inbox_running ON inbox (id) WHERE state = 'running';
        CREATE INDEX inbox_expires ON inbox (expires_at);
      `);
    },
  },
];

export interface InboxStore {
  id: string;
  fromNode: string;
  method: string;
  envelope: Uint8Array;
  /**
   * When the message expires here (its expiresAt capped by the receiver's maximum ttl): it is
   * never started at or after it, and its id is kept until it plus the purge margin.
   */
  expiresAt: number;
  /** Default now. */
  receivedAt?: number;
}

export interface InboxRecord {
  id: string;
  fromNode: string;
  method: string;
  envelope: Buffer;
  state: InboxState;
  receivedAt: number;
  expiresAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Parsed from its JSON text; null until recorded. */
  result: unknown;
}

interface InboxRow {
  id: string;
  from_node: string;
  method: string;
  envelope: Buffer;
  state: InboxState;
  received_at: number;
  expires_at: number;
  started_at: number | null;
  finished_at: number | null;
  result: string | null;
}

function toRecord(r: InboxRow): InboxRecord {
  return {
    id: r.id,
    fromNode: r.from_node,
    method: r.method,
    envelope: r.envelope,
    state: r.state,
    receivedAt: r.received_at,
    expiresAt: r.expires_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    result: r.result === null ? null : (JSON.parse(r.result) as unknown),
  };
}

/** Oldest first, as they arrived (RETURNING gives no order). */
function byArrival(x: InboxRow, y: InboxRow): number {
  return x.received_at - y.received_at || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
}

export interface InboxOptions {
  /** Clock in epoch ms; default `Date.now`. */
  now?: () => number;
}

export class Inbox {
  readonly #db: Database;
  readonly #now: () => number;
  readonly #insert: Statement;
  readonly #get: Statement<[string], InboxRow>;
  readonly #markRunning: Statement;
  readonly #finish: Statement;
  readonly #claim: Statement<{ now: number; limit: number }, InboxRow>;
  readonly #runningIds: Statement<[], { id: string; method: string }>;
  readonly #running: Statement<[], InboxRow>;
  readonly #interruptOne: Statement;
  readonly #requeueOne: Statement;
  readonly #expireStored: Statement<{ now: number }, InboxRow>;
  readonly #anyExpired: Statement<[number], { one: number }>;
  readonly #purge: Statement;

  constructor(db: Database, options: InboxOptions = {}) {
    this.#db = db;
    this.#now = options.now ?? Date.now;
    // ON CONFLICT(id) DO NOTHING rather than INSERT OR IGNORE: only a duplicate id is ignored,
    // a malformed row still fails loudly.
    this.#insert = db.prepare(`
      INSERT INTO inbox (id, from_node, method, envelope, state, received_at, expires_at)
      VALUES (@id, @fromNode, @method, @envelope, 'stored', @receivedAt, @expiresAt)
      ON CONFLICT (id) DO NOTHING`);
    this.#get = db.prepare('SELECT * FROM inbox WHERE id = ?');
    this.#markRunning = db.prepare(`
      UPDATE inbox SET state = 'running', started_at = @now WHERE id = @id AND state = 'stored'`);
    this.#finish = db.prepare(`
      UPDATE inbox SET state = @state, finished_at = @now, result = @result
      WHERE id = @id AND state IN ('stored','running')`);
    // One statement claims and checks the expiry: no row past its expiry can be moved to
    // 'running', however late the claim comes (a restart, a busy executor).
    this.#claim = db.prepare(`
      UPDATE inbox SET state = 'running', started_at = @now
      WHERE id IN (SELECT id FROM inbox WHERE state = 'stored' AND expires_at > @now
                   ORDER BY received_at, id LIMIT @limit)
      RETURNING *`);
    this.#running = db.prepare(
      `SELECT * FROM inbox WHERE state = 'running' ORDER BY received_at, id`,
    );
    this.#runningIds = db.prepare(
      `SELECT id, method FROM inbox WHERE state = 'running' ORDER BY id`,
    );
    this.#interruptOne = db.prepare(`
      UPDATE inbox SET state = 'interrupted', finished_at = @now WHERE id = @id AND state = 'running'`);
    this.#requeueOne = db.prepare(`
      UPDATE inbox SET state = 'stored', started_at = NULL WHERE id = @id AND state = 'running'`);
    this.#expireStored = db.prepare(`
      UPDATE inbox SET state = 'expired', finished_at = @now,
                       result = '{"status":"expired","error":"its time to live ran out before it ran"}'
      WHERE state = 'stored' AND expires_at <= @now
      RETURNING *`);
    this.#anyExpired = db.prepare(`
      SELECT 1 AS one FROM inbox WHERE state = 'stored' AND expires_at <= ? LIMIT 1`);
    this.#purge = db.prepare(`
      DELETE FROM inbox
      WHERE state IN ('done','interrupted','rejected','cancelled','expired') AND expires_at + @keep < @now`);
  }

  /**
   * Commits the message once. 'stored' means it is new and may be ACKed now; 'duplicate' means an
   * earlier copy is already here: ACK again, do not run. One statement, so one transaction.
   */
  storeOnce(rec: InboxStore): 'stored' | 'duplicate' {
    const info = this.#insert.run({
      id: rec.id,
      fromNode: rec.fromNode,
      method: rec.method,
      envelope: asBuffer(rec.envelope),
      receivedAt: rec.receivedAt ?? this.#now(),
      expiresAt: rec.expiresAt,
    });
    return info.changes === 1 ? 'stored' : 'duplicate';
  }

  /**
   * Commits a batch of messages in one transaction (group commit): one WAL write for all of them.
   * Statuses are in the order given; a second copy of an id, even within the batch, is 'duplicate'.
   */
  storeMany(recs: readonly InboxStore[]): ('stored' | 'duplicate')[] {
    return this.#db.transaction((list: readonly InboxStore[]) =>
      list.map((r) => this.storeOnce(r)),
    )(recs);
  }

  get(id: string): InboxRecord | undefined {
    const row = this.#get.get(id);
    return row === undefined ? undefined : toRecord(row);
  }

  /** stored → running; false if it was not 'stored' (already claimed, finished, or unknown). */
  markRunning(id: string): boolean {
    return this.#markRunning.run({ id, now: this.#now() }).changes === 1;
  }

  /** running (or stored) → done with its result; false if it already had a terminal state. */
  markDone(id: string, result: unknown): boolean {
    return this.finish(id, 'done', result);
  }

  /** Records a terminal state; the first one wins and is never overwritten. */
  finish(id: string, state: InboxTerminalState, result?: unknown): boolean {
    if (!(INBOX_TERMINAL_STATES as readonly string[]).includes(state)) {
      throw new StoreStateError(
        `Expected a terminal state (${INBOX_TERMINAL_STATES.join(', ')}) for inbox message ${id}, got "${state}"`,
        { id, state },
      );
    }
    return (
      this.#finish.run({
        id,
        state,
        now: this.#now(),
        result: result === undefined ? null : JSON.stringify(result),
      }).changes === 1
    );
  }

  /**
   * Claims up to `limit` stored, unexpired messages, oldest first, moving them to 'running' in
   * one transaction and returning them. The caller runs them and must not call `markRunning`.
   */
  claimRunnable(limit: number, now: number = this.#now()): InboxRecord[] {
    return this.#claim.all({ now, limit }).sort(byArrival).map(toRecord);
  }

  /** Messages marked running: at startup, what a previous process left unfinished. */
  running(): InboxRecord[] {
    return this.#running.all().map(toRecord);
  }

  /**
   * At startup: every message left 'running' by a dead process becomes 'interrupted' (it may have
   * had effects, so it is reported, not re-run) and its id is returned for the node to report.
   * Methods for which `requeue(method)` is true (declared idempotent) go back to 'stored' instead.
   */
  interruptRunning(requeue: (method: string) => boolean = () => false): string[] {
    return this.#db.transaction(() => {
      const now = this.#now();
      const interrupted: string[] = [];
      for (const { id, method } of this.#runningIds.all()) {
        if (requeue(method)) {
          this.#requeueOne.run({ id });
        } else if (this.#interruptOne.run({ id, now }).changes === 1) {
          interrupted.push(id);
        }
      }
      return interrupted;
    })();
  }

  /** Stored messages whose time to live ran out before they ran become 'expired'; returns ids. */
  expireStored(now: number): string[] {
    return this.takeExpired(now).map((r) => r.id);
  }

  /** Whether a stored message has passed its expiry (a read: cheaper than `takeExpired`'s write). */
  hasExpired(now: number = this.#now()): boolean {
    return this.#anyExpired.get(now) !== undefined;
  }

  /**
   * `expireStored`, returning the rows (one statement): the caller answers their senders, in
   * the same transaction when it opens one around this call.
   */
  takeExpired(now: number = this.#now()): InboxRecord[] {
    return this.#expireStored.all({ now }).sort(byArrival).map(toRecord);
  }

  /**
   * Deletes finished rows whose `expires_at + keepMs` has passed. Ids are kept past expiry (give
   * at least the allowed clock skew as `keepMs`) so a late retry is still recognised as a
   * duplicate; rows not yet finished are never purged. Returns how many rows were deleted.
   */
  purgeExpired(now: number, keepMs: number): number {
    return this.#purge.run({ now, keep: keepMs }).changes;
  }
}
