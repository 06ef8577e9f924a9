import type { Database, Statement } from 'better-sqlite3';
import { StoreStateError } from './errors.js';
import type { Migration } from './migrate.js';

// The sender's durable record of every message it sends, from enqueue to exactly one terminal
// state (DESIGN.md, "How a message travels"). The envelope is kept so a retry after a restart
// resends the very same signed bytes.

export const OutboxState = {
  pending: 'pending',
  delivered: 'delivered',
  completed: 'completed',
  failed: 'failed',
  expired: 'expired',
  interrupted: 'interrupted',
  rejected: 'rejected',
  noop: 'noop',
  cancelled: 'cancelled',
} as const;
export type OutboxState = (typeof OutboxState)[keyof typeof OutboxState];

/** States a message ends in; once one is recorded it never changes. */
export const OUTBOX_TERMINAL_STATES = [
  'completed',
  'failed',
  'expired',
  'interrupted',
  'rejected',
  'noop',
  'cancelled',
] as const satisfies readonly OutboxState[];
export type OutboxTerminalState = (typeof OUTBOX_TERMINAL_STATES)[number];

export const MessageKind = { request: 'request', reply: 'reply' } as const;
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind];

export const outboxMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'outbox: create table',
    up(db) {
      db.exec(`
        CREATE TABLE outbox (
          id              TEXT PRIMARY KEY NOT NULL,
          kind            TEXT NOT NULL CHECK (kind IN ('request','reply')),
          to_node         TEXT NOT NULL,
          method          TEXT NOT NULL,
          envelope        BLOB NOT NULL,
          state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
                            ('pending','delivered','completed','failed','expired',
                             'interrupted','rejected','noop','cancelled')),
          attempts        INTEGER NOT NULL DEFAULT 0,
          next_attempt_at INTEGER NOT NULL,
          expires_at      INTEGER NOT NULL,
          ack_timeout_ms  INTEGER NOT NULL,
          max_retries     INTEGER NOT NULL,
          created_at      INTEGER NOT NULL,
          updated_at      INTEGER NOT NULL,
          delivered_at    INTEGER,
          finished_at     INTEGER,
          error           TEXT,
          result          TEXT
        ) STRICT;
        -- Partial indexes: only live rows are scanned by the publisher loop and the online event.
        CREATE INDEX outbox_due ON outbox (next_attempt_at, created_at) WHERE state = 'pending';
        CREATE INDEX outbox_pending_target ON outbox (to_node) WHERE state = 'pending';
        CREATE INDEX outbox_state_created ON outbox (state, created_at);
        CREATE INDEX outbox_created ON outbox (created_at);
      `);
    },
  },
  {
    version: 6,
    name: 'outbox: due and expiry indexes that cover their ORDER BY',
    up(db) {
      // `due` orders by (next_attempt_at, created_at, id) and `expireDue` by (expires_at, id):
      // without these (and INDEXED BY: the planner preferred outbox_state_created), both sorted
      // every pending row, envelopes included, on each publisher pass; bench/fleet showed it as
      // the central's top cost with 5,000 messages pending.
      db.exec(`
        DROP INDEX outbox_due;
        CREATE INDEX outbox_due ON outbox (next_attempt_at, created_at, id) WHERE state = 'pending';
        CREATE INDEX outbox_expiry ON outbox (expires_at, id) WHERE state = 'pending';
      `);
    },
  },
  {
    version: 7,
    name: 'outbox: answer_by, when a delivered request stops waiting for its result',
    up(db) {
      // A request that was ACKed waits in `delivered` for its result; past answer_by no reply can
      // still come (ttl, methodTimeout and the reply's own time to live are all spent), and it
      // ends `expired`. NULL (rows from before this column, replies): waits as before.
      db.exec(`
        ALTER TABLE outbox ADD COLUMN answer_by INTEGER;
        CREATE INDEX outbox_answer_by ON outbox (answer_by, id) WHERE state = 'delivered';
      `);
    },
  },
  {
    version: 9,
    name: 'outbox: the reply a request expects, beside its envelope',
    up(db) {
      // Checking a reply (node/policy.ts) needs the request's target, reply method and
      // replyMethodArgs: read from two columns instead of the whole envelope, parsed, per reply
      // (bench/fleet: a 10,000-node job on central). NULL (rows from before, replies): the envelope
      // is read as before.
      db.exec(`
        ALTER TABLE outbox ADD COLUMN reply_method TEXT;
        ALTER TABLE outbox ADD COLUMN reply_args TEXT;
      `);
    },
  },
];

/**
 * Told the id of a message whose state moved, and the state it moved to (delivered or terminal),
 * possibly mid-transaction.
 */
export type OutboxChangeListener = (id: string, state: 'delivered' | OutboxTerminalState) => void;

/** What the publisher supplies to enqueue a message. Times are epoch milliseconds. */
export interface OutboxEnqueue {
  id: string;
  kind: MessageKind;
  toNode: string;
  method: string;
  /** The signed, encoded bytes exactly as they go on the wire. */
  envelope: Uint8Array;
  expiresAt: number;
  ackTimeoutMs: number;
  maxRetries: number;
  /**
   * For a request: when, once delivered, it stops waiting for its result and ends `expired`
   * (no reply can arrive after it). Default: waits until a reply comes.
   */
  answerBy?: number;
  /**
   * For a request: the reply it expects (node/reply-method.ts `replyMethodFor`) and the JSON text
   * of its replyMethodArgs (`[]` when none), so a reply is checked without reading the envelope.
   */
  expectedReply?: { method: string; args: string };
  /** First attempt time; default now. */
  nextAttemptAt?: number;
  /** Default now. */
  createdAt?: number;
}

export interface OutboxRecord {
  id: string;
  kind: MessageKind;
  toNode: string;
  method: string;
  envelope: Buffer;
  state: OutboxState;
  attempts: number;
  nextAttemptAt: number;
  expiresAt: number;
  ackTimeoutMs: number;
  maxRetries: number;
  createdAt: number;
  updatedAt: number;
  deliveredAt: number | null;
  finishedAt: number | null;
  error: string | null;
  /** The reply summary, parsed from its JSON text; null until one is recorded. */
  result: unknown;
}

interface OutboxRow {
  id: string;
  kind: MessageKind;
  to_node: string;
  method: string;
  envelope: Buffer;
  state: OutboxState;
  attempts: number;
  next_attempt_at: number;
  expires_at: number;
  ack_timeout_ms: number;
  max_retries: number;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
  finished_at: number | null;
  error: string | null;
  result: string | null;
}

/** A view of the same bytes as a Buffer (better-sqlite3 binds Buffers as BLOBs). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function toRecord(r: OutboxRow): OutboxRecord {
  return {
    id: r.id,
    kind: r.kind,
    toNode: r.to_node,
    method: r.method,
    envelope: r.envelope,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    expiresAt: r.expires_at,
    ackTimeoutMs: r.ack_timeout_ms,
    maxRetries: r.max_retries,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    deliveredAt: r.delivered_at,
    finishedAt: r.finished_at,
    error: r.error,
    result: r.result === null ? null : (JSON.parse(r.result) as unknown),
  };
}

/** What a reply to a sent request is checked against (node/policy.ts). */
export interface ReplyExpectation {
  toNode: string;
  /** The reply method and the JSON text of the reply's methodArgs; undefined: read `envelope`. */
  expected?: { method: string; args: string };
  /** Only when `expected` is not recorded (rows from before migration 9). */
  envelope?: Buffer;
}

export interface OutboxOptions {
  /** Clock in epoch ms; default `Date.now`. Tests pass a fake one. */
  now?: () => number;
}

const LIVE = `state IN ('pending','delivered')`;

/** The sender-side outbox. Every statement is prepared once, here. */
export class Outbox {
  readonly #db: Database;
  readonly #now: () => number;
  readonly #insert: Statement;
  readonly #get: Statement<[string], OutboxRow>;
  readonly #method: Statement<[string], { method: string }>;
  readonly #expectation: Statement<
    [string],
    { to_node: string; reply_method: string | null; reply_args: string | null }
  >;
  readonly #envelope: Statement<[string], { envelope: Buffer }>;
  readonly #listeners: OutboxChangeListener[] = [];
  /** ACKs not written yet (`deliveredLater`): id → ACK time and the message's expiry. */
  readonly #unwritten = new Map<string, { at: number; expiresAt: number }>();
  readonly #due: Statement<[number, number], OutboxRow>;
  readonly #pendingFor: Statement<[string], OutboxRow>;
  readonly #markAttempt: Statement;
  readonly #markDelivered: Statement;
  readonly #finish: Statement;
  readonly #expireSelect: Statement<[number], { id: string }>;
  readonly #expireOne: Statement;
  readonly #unansweredSelect: Statement<[number], { id: string; answer_by: number }>;
  readonly #unansweredOne: Statement;
  readonly #retryNowFor: Statement;
  readonly #listAll: Statement<[number], OutboxRow>;
  readonly #listState: Statement<[string, number], OutboxRow>;
  readonly #listTo: Statement<[string, number], OutboxRow>;
  readonly #counts: Statement<[], { state: OutboxState; n: number }>;
  readonly #depth: Statement<[], { to_node: string; n: number }>;

  constructor(db: Database, options: OutboxOptions = {}) {
    this.#db = db;
    this.#now = options.now ?? Date.now;
    // ON CONFLICT(id) DO NOTHING, not INSERT OR IGNORE: OR IGNORE would also swallow CHECK and
    // NOT NULL violations and report a malformed row as a duplicate.
    this.#insert = db.prepare(`
      INSERT INTO outbox (id, kind, to_node, method, envelope, state, attempts, next_attempt_at,
                          expires_at, ack_timeout_ms, max_retries, created_at, updated_at,
                          answer_by, reply_method, reply_args)
      VALUES (@id, @kind, @toNode, @method, @envelope, 'pending', 0, @nextAttemptAt,
              @expiresAt, @ackTimeoutMs, @maxRetries, @createdAt, @createdAt, @answerBy,
              @replyMethod, @replyArgs)
      ON CONFLICT (id) DO NOTHING`);
    this.#get = db.prepare('SELECT * FROM outbox WHERE id = ?');
    this.#method = db.prepare('SELECT method FROM outbox WHERE id = ?');
    this.#expectation = db.prepare(
      `SELECT to_node, reply_method, reply_args FROM outbox WHERE id = ?`,
    );
    this.#envelope = db.prepare('SELECT envelope FROM outbox WHERE id = ?');
    this.#due = db.prepare(`
      SELECT * FROM outbox INDEXED BY outbox_due
      WHERE state = 'pending' AND next_attempt_at <= ?
      ORDER BY next_attempt_at, created_at, id LIMIT ?`);
    this.#pendingFor = db.prepare(`
      SELECT * FROM outbox WHERE state = 'pending' AND to_node = ? ORDER BY created_at, id`);
    this.#markAttempt = db.prepare(`
      UPDATE outbox SET attempts = attempts + 1, next_attempt_at = @next, updated_at = @now
      WHERE id = @id AND state = 'pending'`);
    this.#markDelivered = db.prepare(`
      UPDATE outbox SET state = 'delivered', delivered_at = @now, updated_at = @now
      WHERE id = @id AND state = 'pending'`);
    this.#finish = db.prepare(`
      UPDATE outbox SET state = @state, finished_at = @now, updated_at = @now,
                        error = @error, result = @result,
                        delivered_at = COALESCE(delivered_at, @deliveredAt)
      WHERE id = @id AND ${LIVE}`);
    this.#expireSelect = db.prepare(`
      SELECT id FROM outbox INDEXED BY outbox_expiry
      WHERE state = 'pending' AND expires_at <= ? ORDER BY expires_at, id`);
    this.#expireOne = db.prepare(`
      UPDATE outbox SET state = 'expired', finished_at = @now, updated_at = @now,
                        error = 'not delivered before it expired'
      WHERE id = @id AND state = 'pending'`);
    this.#unansweredSelect = db.prepare(`
      SELECT id, answer_by FROM outbox INDEXED BY outbox_answer_by
      WHERE state = 'delivered' AND answer_by <= ? ORDER BY answer_by, id`);
    this.#unansweredOne = db.prepare(`
      UPDATE outbox SET state = 'expired', finished_at = @now, updated_at = @now, error = @error
      WHERE id = @id AND state = 'delivered'`);
    this.#retryNowFor = db.prepare(`
      UPDATE outbox SET next_attempt_at = @now, updated_at = @now
      WHERE state = 'pending' AND to_node = @toNode AND next_attempt_at > @now`);
    this.#listAll = db.prepare('SELECT * FROM outbox ORDER BY created_at DESC, id DESC LIMIT ?');
    this.#listState = db.prepare(
      'SELECT * FROM outbox WHERE state = ? ORDER BY created_at DESC, id DESC LIMIT ?',
    );
    this.#listTo = db.prepare(
      'SELECT * FROM outbox WHERE to_node = ? ORDER BY created_at DESC, id DESC LIMIT ?',
    );
    this.#counts = db.prepare('SELECT state, count(*) AS n FROM outbox GROUP BY state');
    this.#depth = db.prepare(`
      SELECT to_node, count(*) AS n FROM outbox WHERE state = 'pending'
      GROUP BY to_node ORDER BY to_node`);
  }

  /** Stores a new pending message. A second enqueue of the same id changes nothing. */
  enqueue(rec: OutboxEnqueue): 'enqueued' | 'duplicate' {
    const now = this.#now();
    const info = this.#insert.run({
      id: rec.id,
      kind: rec.kind,
      toNode: rec.toNode,
      method: rec.method,
      envelope: asBuffer(rec.envelope),
      nextAttemptAt: rec.nextAttemptAt ?? now,
      expiresAt: rec.expiresAt,
      ackTimeoutMs: rec.ackTimeoutMs,
      maxRetries: rec.maxRetries,
      createdAt: rec.createdAt ?? now,
      answerBy: rec.answerBy ?? null,
      replyMethod: rec.expectedReply?.method ?? null,
      replyArgs: rec.expectedReply?.args ?? null,
    });
    return info.changes === 1 ? 'enqueued' : 'duplicate';
  }

  /** Enqueues many messages in one transaction (one commit for a fan-out); returns new ids. */
  enqueueMany(recs: readonly OutboxEnqueue[]): string[] {
    return this.#db.transaction((list: readonly OutboxEnqueue[]) =>
      list.filter((r) => this.enqueue(r) === 'enqueued').map((r) => r.id),
    )(recs);
  }

  get(id: string): OutboxRecord | undefined {
    const row = this.#get.get(id);
    return row === undefined ? undefined : toRecord(row);
  }

  /**
   * What a reply to request `id` must match: its target and the reply it asked for, without the
   * envelope when the row records them. Undefined when no message `id` was sent from here.
   */
  replyExpectation(id: string): ReplyExpectation | undefined {
    const row = this.#expectation.get(id);
    if (row === undefined) return undefined;
    if (row.reply_method !== null && row.reply_args !== null) {
      return { toNode: row.to_node, expected: { method: row.reply_method, args: row.reply_args } };
    }
    const envelope = this.#envelope.get(id)?.envelope;
    return { toNode: row.to_node, ...(envelope !== undefined && { envelope }) };
  }

  /** The method of a message (without reading its envelope). */
  methodOf(id: string): string | undefined {
    return this.#method.get(id)?.method;
  }

  /**
   * Calls `listener` with the id of every message that is delivered or reaches a terminal state
   * here. It may run inside a transaction that is later rolled back: read the row again after it.
   */
  onChange(listener: OutboxChangeListener): () => void {
    this.#listeners.push(listener);
    return () => {
      const i = this.#listeners.indexOf(listener);
      if (i >= 0) this.#listeners.splice(i, 1);
    };
  }

  #changed(id: string, state: 'delivered' | OutboxTerminalState): void {
    for (const l of this.#listeners) l(id, state);
  }

  /** Pending messages whose next attempt is due, earliest first. */
  due(now: number, limit: number): OutboxRecord[] {
    return this.#due.all(now, limit).map(toRecord);
  }

  /** Every pending message for one node, oldest first. */
  pendingFor(toNode: string): OutboxRecord[] {
    return this.#pendingFor.all(toNode).map(toRecord);
  }

  /** Records a send attempt and when to try again; false when the message is no longer pending. */
  markAttempt(id: string, nextAttemptAt: number): boolean {
    return this.#markAttempt.run({ id, next: nextAttemptAt, now: this.#now() }).changes === 1;
  }

  /** `markAttempt` for a batch, in one transaction; returns the ids still pending (now attempted). */
  markAttempts(attempts: readonly { id: string; nextAttemptAt: number }[]): string[] {
    return this.#db.transaction((list: readonly { id: string; nextAttemptAt: number }[]) =>
      list.filter((a) => this.markAttempt(a.id, a.nextAttemptAt)).map((a) => a.id),
    )(attempts);
  }

  /** Runs `fn` in one transaction (nested calls join it): batch several updates into one commit. */
  batch<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  /**
   * The receiver ACKed `id` at `at`; written by the next `writeDelivered`, unless its result comes
   * first: then `finish` records the ACK time in its own write, and nothing else is written. Until
   * then the row stays `pending` with the attempt reserved before it was sent, so a crash only
   * makes that attempt happen, which the receiver answers `duplicate`: nothing runs twice.
   */
  deliveredLater(id: string, at: number, expiresAt: number): void {
    this.#unwritten.set(id, { at, expiresAt });
  }

  /** Writes every ACK `deliveredLater` holds, in one transaction; returns how many moved. */
  writeDelivered(): number {
    if (this.#unwritten.size === 0) return 0;
    const batch = [...this.#unwritten];
    this.#unwritten.clear();
    return this.batch(() => batch.filter(([id, { at }]) => this.markDelivered(id, at)).length);
  }

  /** Whether `id` was ACKed and the ACK is not written yet. */
  isDeliveredUnwritten(id: string): boolean {
    return this.#unwritten.has(id);
  }

  /** Whether an ACK not yet written belongs to a message that expires by `time`. */
  unwrittenDeliveredBy(time: number): boolean {
    for (const { expiresAt } of this.#unwritten.values()) if (expiresAt <= time) return true;
    return false;
  }

  /** The receiver ACKed (stored it), at `at` (default now); false when it was not pending. */
  markDelivered(id: string, at: number = this.#now()): boolean {
    const moved = this.#markDelivered.run({ id, now: at }).changes === 1;
    if (moved) this.#changed(id, 'delivered');
    return moved;
  }

  /**
   * Records the terminal state. Returns true if this call set it, false if the message already
   * had one (or does not exist): the first terminal state wins and is never overwritten.
   */
  finish(
    id: string,
    state: OutboxTerminalState,
    details: { error?: string; result?: unknown } = {},
  ): boolean {
    if (!(OUTBOX_TERMINAL_STATES as readonly string[]).includes(state)) {
      throw new StoreStateError(
        `Expected a terminal state (${OUTBOX_TERMINAL_STATES.join(', ')}) for outbox message ${id}, got "${state}"`,
        { id, state },
      );
    }
    const moved =
      this.#finish.run({
        id,
        state,
        now: this.#now(),
        error: details.error ?? null,
        result: details.result === undefined ? null : JSON.stringify(details.result),
        deliveredAt: this.#unwritten.get(id)?.at ?? null,
      }).changes === 1;
    if (moved) {
      this.#unwritten.delete(id);
      this.#changed(id, state);
    }
    return moved;
  }

  /** Moves pending messages whose `expires_at <= now` to `expired`; returns their ids. */
  expireDue(now: number): string[] {
    // Almost always none: no transaction for that (this runs on every publisher pass).
    const expired = this.#expireSelect.all(now);
    if (expired.length === 0) return [];
    return this.#db.transaction(() => {
      const ids: string[] = [];
      for (const { id } of expired) {
        if (this.#expireOne.run({ id, now }).changes === 1) {
          ids.push(id);
          this.#changed(id, 'expired');
        }
      }
      return ids;
    })();
  }

  /**
   * Moves delivered requests whose `answer_by <= now` to `expired` (no result came back, and none
   * can any more); returns their ids with the error recorded.
   */
  expireUnanswered(now: number): { id: string; error: string }[] {
    const late = this.#unansweredSelect.all(now);
    if (late.length === 0) return [];
    return this.#db.transaction(() => {
      const out: { id: string; error: string }[] = [];
      for (const { id, answer_by } of late) {
        const error = `delivered, but no result came back by ${new Date(answer_by).toISOString()} (ttl, methodTimeout and the reply's time to live had passed)`;
        if (this.#unansweredOne.run({ id, now, error }).changes === 1) {
          out.push({ id, error });
          this.#changed(id, 'expired');
        }
      }
      return out;
    })();
  }

  /** Makes every pending message for `toNode` due now (its online event arrived); returns how many. */
  retryNowFor(toNode: string): number {
    return this.#retryNowFor.run({ toNode, now: this.#now() }).changes;
  }

  /** Newest first; default limit 100. */
  list(filter: { state?: OutboxState; limit?: number } = {}): OutboxRecord[] {
    const limit = filter.limit ?? 100;
    const rows =
      filter.state === undefined
        ? this.#listAll.all(limit)
        : this.#listState.all(filter.state, limit);
    return rows.map(toRecord);
  }

  /** The newest messages sent to `toNode`, newest first (the dashboard's node page). */
  listTo(toNode: string, limit = 20): OutboxRecord[] {
    return this.#listTo.all(toNode, limit).map(toRecord);
  }

  /** How many messages are in each state (every state present, zero when none). */
  counts(): Record<OutboxState, number> {
    const out = Object.fromEntries(Object.values(OutboxState).map((s) => [s, 0])) as Record<
      OutboxState,
      number
    >;
    for (const { state, n } of this.#counts.all()) out[state] = n;
    return out;
  }

  /** Pending messages per target node, for the `outbox depth per target` metric. */
  depthByTarget(): Map<string, number> {
    return new Map(this.#depth.all().map((r) => [r.to_node, r.n]));
  }
}
