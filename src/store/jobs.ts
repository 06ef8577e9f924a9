import type { Database, Statement } from 'better-sqlite3';
import type { Migration } from './migrate.js';

// Central's job store (DESIGN.md, "Storage"): one row per job (`admiral run`, POST /api/v1/jobs)
// and one per targeted node, from `waiting` to exactly one terminal state. Each node's message is
// an ordinary outbox row (`message_id`); the job runner copies its outcome here, so results stay
// after the outbox is trimmed, for `central.jobs.retention`.

export const JobState = {
  running: 'running',
  /** Every node succeeded. */
  completed: 'completed',
  /** Every node ended; some did not succeed. */
  failed: 'failed',
  /** `maxErrors` was reached: nodes not yet started were never started. */
  aborted: 'aborted',
  /** An operator cancelled it. */
  cancelled: 'cancelled',
} as const;
export type JobState = (typeof JobState)[keyof typeof JobState];

export const JOB_NODE_STATES = [
  'waiting',
  'sent',
  'acknowledged',
  'completed',
  'failed',
  'expired',
  'noop',
  'interrupted',
  'cancelled',
  'rejected',
  'did-not-answer',
] as const;
export type JobNodeState = (typeof JOB_NODE_STATES)[number];

/** The states a node ends in; once one is recorded it never changes. */
export const JOB_NODE_TERMINAL: readonly JobNodeState[] = JOB_NODE_STATES.slice(3);

export function isTerminalNodeState(state: JobNodeState): boolean {
  return (JOB_NODE_TERMINAL as readonly string[]).includes(state);
}

export const jobMigrations: readonly Migration[] = [
  {
    version: 4,
    name: 'jobs: create jobs and job_nodes',
    up(db) {
      db.exec(`
        CREATE TABLE jobs (
          id           TEXT PRIMARY KEY NOT NULL,
          state        TEXT NOT NULL CHECK (state IN
                         ('running','completed','failed','aborted','cancelled')),
          spec         TEXT NOT NULL,
          submitted_by TEXT NOT NULL,
          total        INTEGER NOT NULL,
          created_at   INTEGER NOT NULL,
          updated_at   INTEGER NOT NULL,
          finished_at  INTEGER,
          reason       TEXT
        ) STRICT;
        CREATE INDEX jobs_created ON jobs (created_at);
        CREATE INDEX jobs_running ON jobs (state) WHERE state = 'running';
        CREATE TABLE job_nodes (
          job_id      TEXT NOT NULL,
          node        TEXT NOT NULL,
          position    INTEGER NOT NULL,
          message_id  TEXT,
          state       TEXT NOT NULL CHECK (state IN
                        ('waiting','sent','acknowledged','completed','failed','expired','noop',
                         'interrupted','cancelled','rejected','did-not-answer')),
          exit_code   INTEGER,
          output      TEXT,
          stderr      TEXT,
          error       TEXT,
          sent_at     INTEGER,
          acked_at    INTEGER,
          finished_at INTEGER,
          PRIMARY KEY (job_id, node)
        ) STRICT;
        CREATE INDEX job_nodes_live ON job_nodes (job_id, state)
          WHERE state IN ('waiting','sent','acknowledged');
      `);
    },
  },
];

/** What a job asks for; kept as JSON. */
export interface JobSpec {
  /** argv of the command (REQCliCommand's methodArgs). */
  readonly args: readonly string[];
  /** How the target was given (nodes, all, where), for display. */
  readonly target: Readonly<Record<string, unknown>>;
  /** Most nodes running at once; 0 = no limit. */
  readonly maxConcurrency: number;
  /** Errors after which no new node is started; 0 = no limit. */
  readonly maxErrors: number;
  /** With a concurrency limit: ms slept between batches. */
  readonly batchSleepMs: number;
  /** Seconds the command may run on each node. */
  readonly methodTimeout: number;
  /** Seconds each node's message may wait for delivery. */
  readonly ttl: number;
  /** Seconds after its method timeout that an ACKed node has to answer. */
  readonly replyGrace: number;
  /** Who asked, as the submitter named them (the chat bridge: `irc:nick!user@host`). */
  readonly requestedBy?: string;
}

export interface JobRecord {
  id: string;
  state: JobState;
  spec: JobSpec;
  submittedBy: string;
  total: number;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  reason: string | null;
}

export interface JobNodeRecord {
  jobId: string;
  node: string;
  position: number;
  messageId: string | null;
  state: JobNodeState;
  exitCode: number | null;
  output: string | null;
  stderr: string | null;
  error: string | null;
  sentAt: number | null;
  ackedAt: number | null;
  finishedAt: number | null;
}

/** A node's outcome as the runner records it. */
export interface JobNodeOutcome {
  state: JobNodeState;
  exitCode?: number;
  output?: string;
  stderr?: string;
  error?: string;
  /** When the node ACKed, if it did and the job had not seen it yet. */
  ackedAt?: number;
}

/** Change of a live job node's outbox row, read in one join (outbox and jobs share a database). */
export interface OutboxChange {
  node: string;
  jobState: JobNodeState;
  messageId: string;
  outboxState: string;
  result: string | null;
  error: string | null;
  deliveredAt: number | null;
}

interface JobRow {
  id: string;
  state: JobState;
  spec: string;
  submitted_by: string;
  total: number;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  reason: string | null;
}

interface JobNodeRow {
  job_id: string;
  node: string;
  position: number;
  message_id: string | null;
  state: JobNodeState;
  exit_code: number | null;
  output: string | null;
  stderr: string | null;
  error: string | null;
  sent_at: number | null;
  acked_at: number | null;
  finished_at: number | null;
}

function jobOf(r: JobRow): JobRecord {
  return {
    id: r.id,
    state: r.state,
    spec: JSON.parse(r.spec) as JobSpec,
    submittedBy: r.submitted_by,
    total: r.total,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
    reason: r.reason,
  };
}

function nodeOf(r: JobNodeRow): JobNodeRecord {
  return {
    jobId: r.job_id,
    node: r.node,
    position: r.position,
    messageId: r.message_id,
    state: r.state,
    exitCode: r.exit_code,
    output: r.output,
    stderr: r.stderr,
    error: r.error,
    sentAt: r.sent_at,
    ackedAt: r.acked_at,
    finishedAt: r.finished_at,
  };
}

/**
 * A job's node rows as JobNodeRow. A sent node is 'acknowledged' once its outbox row is delivered:
 * the ACK is read from the outbox row (joined), not copied into the job's (one write less per
 * node, bench/fleet).
 */
const NODE_ROWS = `
  SELECT jn.job_id, jn.node, jn.position, jn.message_id,
         CASE WHEN jn.state = 'sent' AND o.state = 'delivered' THEN 'acknowledged'
              ELSE jn.state END AS state,
         jn.exit_code, jn.output, jn.stderr, jn.error, jn.sent_at,
         COALESCE(jn.acked_at, o.delivered_at) AS acked_at, jn.finished_at
  FROM job_nodes jn LEFT JOIN outbox o ON o.id = jn.message_id AND jn.state = 'sent'`;

/** Counts of a job's nodes by state (every state present). */
export type JobNodeCounts = Record<JobNodeState, number>;

export class JobStore {
  readonly #db: Database;
  readonly #insertJob: Statement;
  readonly #insertNode: Statement;
  readonly #getJob: Statement<[string], JobRow>;
  readonly #listJobs: Statement<[number], JobRow>;
  readonly #running: Statement<[], JobRow>;
  readonly #nodes: Statement<[string], JobNodeRow>;
  readonly #nodesPage: Statement<[string, number, number], JobNodeRow>;
  readonly #waiting: Statement<[string, number], JobNodeRow>;
  readonly #counts: Statement<[string], { state: JobNodeState; n: number }>;
  readonly #tally: Statement<
    [string],
    { state: JobNodeState; exit_code: number | null; acked: number; n: number }
  >;
  readonly #markSent: Statement;
  readonly #finishNode: Statement;
  readonly #finishJob: Statement;
  readonly #changes: Statement<[string], OutboxChange>;
  readonly #outboxRow: Statement<[string], Omit<OutboxChange, 'node' | 'jobState'>>;
  readonly #overdue: Statement<[string, number], JobNodeRow>;
  readonly #purgeNodes: Statement;
  readonly #purge: Statement;

  constructor(db: Database) {
    this.#db = db;
    this.#insertJob = db.prepare(`
      INSERT INTO jobs (id, state, spec, submitted_by, total, created_at, updated_at)
      VALUES (@id, 'running', @spec, @submittedBy, @total, @now, @now)`);
    this.#insertNode = db.prepare(`
      INSERT INTO job_nodes (job_id, node, position, state, message_id, sent_at, error,
                             finished_at)
      VALUES (@jobId, @node, @position, @state, @messageId, @sentAt, @error, @finishedAt)`);
    this.#getJob = db.prepare('SELECT * FROM jobs WHERE id = ?');
    this.#listJobs = db.prepare('SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?');
    this.#running = db.prepare(`SELECT * FROM jobs WHERE state = 'running' ORDER BY created_at`);
    this.#nodes = db.prepare(`
      ${NODE_ROWS}
      WHERE jn.job_id = ? ORDER BY jn.position`);
    this.#nodesPage = db.prepare(`
      ${NODE_ROWS}
      WHERE jn.job_id = ? ORDER BY jn.position LIMIT ? OFFSET ?`);
    this.#waiting = db.prepare(`
      SELECT * FROM job_nodes WHERE job_id = ? AND state = 'waiting' ORDER BY position LIMIT ?`);
    this.#counts = db.prepare(
      'SELECT state, count(*) AS n FROM job_nodes WHERE job_id = ? GROUP BY state',
    );
    // Exit codes are grouped as 0 / non-zero / none: that is all the counts need.
    this.#tally = db.prepare(`
      SELECT CASE WHEN jn.state = 'sent' AND o.state = 'delivered' THEN 'acknowledged'
                  ELSE jn.state END AS state,
             CASE WHEN jn.exit_code IS NULL THEN NULL WHEN jn.exit_code = 0 THEN 0 ELSE 1 END
               AS exit_code,
             COALESCE(jn.acked_at, o.delivered_at) IS NOT NULL AS acked, count(*) AS n
      FROM job_nodes jn LEFT JOIN outbox o ON o.id = jn.message_id AND jn.state = 'sent'
      WHERE jn.job_id = ? GROUP BY 1, 2, 3`);
    this.#markSent = db.prepare(`
      UPDATE job_nodes SET state = 'sent', message_id = @messageId, sent_at = @now
      WHERE job_id = @jobId AND node = @node AND state = 'waiting'`);
    this.#finishNode = db.prepare(`
      UPDATE job_nodes SET state = @state, exit_code = @exitCode, output = @output,
                           stderr = @stderr, error = @error, finished_at = @now,
                           acked_at = COALESCE(acked_at, @ackedAt)
      WHERE job_id = @jobId AND node = @node AND state IN ('waiting','sent','acknowledged')`);
    this.#finishJob = db.prepare(`
      UPDATE jobs SET state = @state, reason = @reason, finished_at = @now, updated_at = @now
      WHERE id = @id AND state = 'running'`);
    // Only rows whose outbox state moved past what the job already knows.
    this.#changes = db.prepare(`
      SELECT jn.node AS node, jn.state AS jobState, o.id AS messageId, o.state AS outboxState,
             o.result AS result, o.error AS error, o.delivered_at AS deliveredAt
      FROM job_nodes jn JOIN outbox o ON o.id = jn.message_id
      WHERE jn.job_id = ? AND jn.state IN ('sent','acknowledged')
        AND o.state NOT IN ('pending','delivered')`);
    this.#outboxRow = db.prepare(`
      SELECT id AS messageId, state AS outboxState, result, error, delivered_at AS deliveredAt
      FROM outbox WHERE id = ?`);
    this.#overdue = db.prepare(`
      ${NODE_ROWS}
      WHERE jn.job_id = ? AND jn.state IN ('sent','acknowledged')
        AND COALESCE(jn.acked_at, o.delivered_at) <= ?`);
    this.#purgeNodes = db.prepare(`
      DELETE FROM job_nodes WHERE job_id IN
        (SELECT id FROM jobs WHERE state <> 'running' AND finished_at <= ?)`);
    this.#purge = db.prepare(`DELETE FROM jobs WHERE state <> 'running' AND finished_at <= ?`);
  }

  /**
   * Records a new job and its nodes, in one transaction: `waiting`, or already `sent` (with the
   * message id) or `rejected` (with the error) for those in `started` — the first batch, whose
   * messages the caller enqueued in the same transaction (one insert per node, not an insert and
   * an update).
   */
  create(job: {
    id: string;
    spec: JobSpec;
    submittedBy: string;
    nodes: readonly string[];
    started?: ReadonlyMap<string, { messageId: string } | { error: string }>;
    /** When it was submitted (a job taken over from the shared state); default now. */
    createdAt?: number;
  }): void {
    const now = Date.now();
    this.#db.transaction(() => {
      this.#insertJob.run({
        id: job.id,
        spec: JSON.stringify(job.spec),
        submittedBy: job.submittedBy,
        total: job.nodes.length,
        now: job.createdAt ?? now,
      });
      job.nodes.forEach((node, position) => {
        const started = job.started?.get(node);
        this.#insertNode.run({
          jobId: job.id,
          node,
          position,
          state: started === undefined ? 'waiting' : 'messageId' in started ? 'sent' : 'rejected',
          messageId: started !== undefined && 'messageId' in started ? started.messageId : null,
          sentAt: started !== undefined && 'messageId' in started ? now : null,
          error: started !== undefined && 'error' in started ? started.error : null,
          finishedAt: started !== undefined && 'error' in started ? now : null,
        });
      });
    })();
  }

  /** Forgets a job and its nodes (a stale copy of a job this central takes over). */
  remove(id: string): void {
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM job_nodes WHERE job_id = ?').run(id);
      this.#db.prepare('DELETE FROM jobs WHERE id = ?').run(id);
    })();
  }

  get(id: string): JobRecord | undefined {
    const row = this.#getJob.get(id);
    return row === undefined ? undefined : jobOf(row);
  }

  /**
   * Up to `limit` job ids that start with `part`, or else end with it: a UUIDv7 begins with its
   * time, so jobs made together share a prefix and differ in their random tail.
   */
  idsMatching(part: string, limit = 2): string[] {
    const prefix = this.#db
      .prepare('SELECT id FROM jobs WHERE id >= ? AND id < ? ORDER BY id LIMIT ?')
      .all(part, `${part}\u{10ffff}`, limit) as { id: string }[];
    if (prefix.length > 0) return prefix.map((r) => r.id);
    const suffix = this.#db
      .prepare("SELECT id FROM jobs WHERE id LIKE '%' || ? ORDER BY id LIMIT ?")
      .all(part, limit) as { id: string }[];
    return suffix.map((r) => r.id);
  }

  /** Newest first. */
  list(limit = 50): JobRecord[] {
    return this.#listJobs.all(limit).map(jobOf);
  }

  running(): JobRecord[] {
    return this.#running.all().map(jobOf);
  }

  /** The job's nodes in target order; with `page`, only `limit` of them from `offset`. */
  nodes(jobId: string, page?: { offset: number; limit: number }): JobNodeRecord[] {
    const rows =
      page === undefined
        ? this.#nodes.all(jobId)
        : this.#nodesPage.all(jobId, page.limit, page.offset);
    return rows.map(nodeOf);
  }

  /** `limit` of the job's nodes from `offset`, in target order (a page of the dashboard's job view). */
  nodesPage(jobId: string, offset: number, limit: number): JobNodeRecord[] {
    return this.#nodesPage.all(jobId, limit, offset).map(nodeOf);
  }

  /** The next nodes not yet started, in target order. */
  waiting(jobId: string, limit: number): JobNodeRecord[] {
    return this.#waiting.all(jobId, limit).map(nodeOf);
  }

  counts(jobId: string): JobNodeCounts {
    const out = Object.fromEntries(JOB_NODE_STATES.map((s) => [s, 0])) as JobNodeCounts;
    for (const { state, n } of this.#counts.all(jobId)) out[state] = n;
    return out;
  }

  /** A job's nodes grouped by state, exit code (0, 1 = non-zero, null) and whether they ACKed. */
  tally(jobId: string): { state: JobNodeState; exitCode?: number; acked: boolean; n: number }[] {
    return this.#tally.all(jobId).map((r) => ({
      state: r.state,
      ...(r.exit_code !== null && { exitCode: r.exit_code }),
      acked: r.acked === 1,
      n: r.n,
    }));
  }

  markSent(jobId: string, node: string, messageId: string): boolean {
    return this.#markSent.run({ jobId, node, messageId, now: Date.now() }).changes === 1;
  }

  /** Records a node's terminal state; false when it already had one. */
  finishNode(jobId: string, node: string, outcome: JobNodeOutcome): boolean {
    return (
      this.#finishNode.run({
        jobId,
        node,
        state: outcome.state,
        exitCode: outcome.exitCode ?? null,
        output: outcome.output ?? null,
        stderr: outcome.stderr ?? null,
        error: outcome.error ?? null,
        ackedAt: outcome.ackedAt ?? null,
        now: Date.now(),
      }).changes === 1
    );
  }

  finish(id: string, state: Exclude<JobState, 'running'>, reason?: string): boolean {
    return (
      this.#finishJob.run({ id, state, reason: reason ?? null, now: Date.now() }).changes === 1
    );
  }

  /** Live nodes whose outbox message settled (reached a terminal state) since the job last looked. */
  outboxChanges(jobId: string): OutboxChange[] {
    return this.#changes.all(jobId);
  }

  /** Acknowledged nodes ACKed at or before `ackedBefore` (they are past their answer time). */
  /** One job message's outbox row, as `outboxChanges` reads it (without the job's side). */
  outboxChange(messageId: string): Omit<OutboxChange, 'node' | 'jobState'> | undefined {
    return this.#outboxRow.get(messageId);
  }

  overdue(jobId: string, ackedBefore: number): JobNodeRecord[] {
    return this.#overdue.all(jobId, ackedBefore).map(nodeOf);
  }

  /** Runs `fn` in one transaction. */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  /** Deletes finished jobs (and their nodes) that finished at or before `before`; returns how many. */
  purge(before: number): number {
    return this.#db.transaction(() => {
      this.#purgeNodes.run(before);
      return this.#purge.run(before).changes;
    })();
  }
}
