import { createHash, createHmac } from 'node:crypto';
import type { ParsedJobSubmit } from '../fleet/job-request.js';
import {
  countNodes,
  type JobCounts,
  type JobNodeView,
  type JobView,
  outcomeOf,
} from '../fleet/job-view.js';
import { resolveRateLimit } from '../fleet/rate.js';
import { resolveTarget, type TargetCandidate, whereToRecord } from '../fleet/target.js';
import type { NodeContext } from '../node/extension.js';
import type { Logger } from '../observability/logger.js';
import { METHOD_NAMES, newMessageId } from '../protocol/index.js';
import { JOB_EVENTS, type JobEventName } from '../protocol/subjects.js';
import {
  type JobNodeOutcome,
  type JobNodeRecord,
  type JobNodeState,
  type JobRecord,
  type JobSpec,
  JobStore,
  type OutboxChange,
} from '../store/jobs.js';
import type { JobJournal, JournalJob, JournalOutcome } from '../store/jetstream/jobs.js';

// The job runner on central (DESIGN.md, "Roles": central keeps the job store). A job is one
// durable REQCliCommand message per targeted node, sent through central's outbox; the runner
// hears from the outbox when one of those rows is ACKed or ends (Outbox.onChange), reads the
// row again once the change is committed, and copies each node's end state into the job (a
// sweep over all of a job's rows, one join, every SWEEP_MS catches anything else): completed (with exit code), failed, expired, noop, interrupted, cancelled,
// rejected, or did-not-answer (ACKed, no result within methodTimeout + replyGrace). Rate control
// after AWS SSM Run Command (MaxConcurrency, MaxErrors) and Choria (--batch-sleep).

export interface JobSettings {
  /** Seconds finished jobs are kept. */
  readonly retention: number;
  readonly ttl: number;
  readonly methodTimeout: number;
  readonly replyGrace: number;
}

export class JobError extends Error {
  override readonly name = 'JobError';
  constructor(
    message: string,
    readonly code: 'ADMIRAL_JOB_NOT_FOUND' | 'ADMIRAL_JOB_NO_NODES' | 'ADMIRAL_JOB_FINISHED',
  ) {
    super(message);
  }
}

interface Run {
  readonly id: string;
  readonly spec: JobSpec;
  waiting: number;
  running: number;
  errors: number;
  cancelled: boolean;
  aborted: boolean;
  /** Batch mode (batchSleep with maxConcurrency): no start before this time. */
  nextStartAt: number;
  /** Batch mode: the current batch has started and not yet drained. */
  batchOpen: boolean;
  /** A batch is being recorded in the journal before it is sent: start no other meanwhile. */
  sending: boolean;
}

const TICK_MS = 25;
/** Most nodes sent in one input (one validation, one transaction). */
const SEND_CHUNK = 4096;
/** How often every live row of every job is compared with its outbox row, and overdue ones found. */
const SWEEP_MS = 1000;
const HAS_CANCEL = (METHOD_NAMES as readonly string[]).includes('REQCancel');

function outcomeFromOutbox(
  c: Pick<OutboxChange, 'outboxState' | 'result' | 'error' | 'deliveredAt'>,
): JobNodeOutcome {
  let result: { status?: string; exitCode?: number; output?: string; stderr?: string } = {};
  if (c.result !== null) {
    try {
      result = JSON.parse(c.result) as typeof result;
    } catch {
      // a malformed summary keeps only the state
    }
  }
  const state: JobNodeState =
    c.outboxState === 'completed' && result.exitCode !== undefined && result.exitCode !== 0
      ? 'failed'
      : (c.outboxState as JobNodeState);
  return {
    state,
    ...(typeof result.exitCode === 'number' && { exitCode: result.exitCode }),
    ...(typeof result.output === 'string' && { output: result.output }),
    ...(typeof result.stderr === 'string' && result.stderr !== '' && { stderr: result.stderr }),
    ...(c.error !== null && { error: c.error }),
    ...(c.deliveredAt !== null && { ackedAt: c.deliveredAt }),
  };
}

function nodeView(r: JobNodeRecord): JobNodeView {
  return {
    node: r.node,
    state: r.state,
    ...(r.exitCode !== null && { exitCode: r.exitCode }),
    ...(r.output !== null && { output: r.output }),
    ...(r.stderr !== null && { stderr: r.stderr }),
    ...(r.error !== null && { error: r.error }),
    ...(r.messageId !== null && { messageId: r.messageId }),
    ...(r.sentAt !== null && { sentAt: r.sentAt }),
    ...(r.ackedAt !== null && { ackedAt: r.ackedAt }),
    ...(r.finishedAt !== null && { finishedAt: r.finishedAt }),
  };
}

export interface JobRunnerDeps {
  readonly ctx: NodeContext;
  readonly settings: JobSettings;
  /** The inventory, for `all` and `where` targets. */
  readonly candidates: () => Iterable<TargetCandidate>;
  readonly log: Logger;
  /**
   * Shared state (JetStream) that outlives this central: jobs, their batches and their nodes'
   * end states are written there first, so a standby continues them (takeOver).
   */
  readonly journal?: JobJournal;
}

/**
 * The message ids of a job's copies: the same for a node whichever central sends it (centrals
 * sharing state share their key), and unguessable without that key, so nobody can take a node's
 * id first. A UUIDv7 whose time is the job's (its id's first 48 bits) and the rest an HMAC.
 */
export function jobMessageIds(seed: string, jobId: string): (node: string | undefined) => string {
  const key = createHash('sha256').update(`admiral job message ids\0${seed}\0${jobId}`).digest();
  const time = jobId.replace(/-/g, '').slice(0, 12);
  return (node) => {
    const h = createHmac('sha256', key)
      .update(node ?? '')
      .digest('hex');
    const variant = ((parseInt(h[3] as string, 16) & 3) | 8).toString(16);
    return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${h.slice(0, 3)}-${variant}${h.slice(4, 7)}-${h.slice(7, 19)}`;
  };
}

export class JobRunner {
  readonly store: JobStore;
  readonly #deps: JobRunnerDeps;
  readonly #runs = new Map<string, Run>();
  readonly #waiters = new Map<string, Set<() => void>>();
  /** The live runs' sent messages: outbox id → run and node. */
  readonly #byMessage = new Map<string, { run: Run; node: string }>();
  /** Outbox ids whose rows settled since they were last read. */
  #changed = new Set<string>();
  /** Runs with a node ACKed since their watchers were last told. */
  readonly #acked = new Set<Run>();
  #changeScheduled = false;
  #unwatch: (() => void) | undefined;
  #lastSweep = 0;
  #timer: NodeJS.Timeout | undefined;
  #purgeTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #listeners = new Set<(jobId: string) => void>();
  /** Job messages whose node's end state is being written to the journal. */
  readonly #journaling = new Map<string, Promise<void>>();
  /** Job messages whose end state could not be written: written again when a reply is held. */
  readonly #unjournaled = new Map<string, () => Promise<void>>();
  /** Replies settled, whose end state the runner has not read yet: their ACKs wait for it. */
  readonly #held = new Map<string, { promise: Promise<void>; done: (err?: unknown) => void }>();

  constructor(deps: JobRunnerDeps) {
    this.#deps = deps;
    this.store = new JobStore(deps.ctx.store.database.db);
  }

  /** Calls `listener` with a job's id when its state or a node's changes; returns its removal. */
  onChange(listener: (jobId: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changedJob(id: string): void {
    // A listener's failure is its own: the job goes on.
    for (const l of this.#listeners) {
      try {
        l(id);
      } catch (err) {
        this.#deps.log('warn', 'job change listener failed', { job: id, error: String(err) });
      }
    }
  }

  /**
   * Resumes the jobs a previous process left running; purges old ones. With a journal the jobs
   * are resumed from it, by `takeOver`, once this central leads.
   */
  start(): void {
    this.#purge();
    this.#purgeTimer = setInterval(() => this.#purge(), 3_600_000);
    this.#purgeTimer.unref();
    this.#unwatch = this.#deps.ctx.store.outbox.onChange((id, state) =>
      this.#outboxChanged(id, state),
    );
    if (this.#deps.journal !== undefined) return;
    for (const job of this.store.running()) {
      const run = this.#load(job);
      this.#runs.set(job.id, run);
      for (const n of this.store.nodes(job.id)) {
        if (n.messageId !== null && (n.state === 'sent' || n.state === 'acknowledged')) {
          this.#byMessage.set(n.messageId, { run, node: n.node });
        }
      }
    }
    this.#schedule();
  }

  #outboxChanged(id: string, state: string): void {
    const entry = this.#byMessage.get(id);
    if (entry === undefined) return;
    if (state === 'delivered') {
      // An ACK: the job reads it from the outbox row (JobStore), so there is nothing to copy;
      // the job's watchers are told once per turn.
      this.#acked.add(entry.run);
    } else {
      this.#changed.add(id);
    }
    if (this.#changeScheduled) return;
    this.#changeScheduled = true;
    // After the transaction that changed the row (it may roll back): read it then.
    setImmediate(() => this.#applyChanged());
  }

  /** Copies the outbox rows that changed into their jobs, all in one transaction. */
  #applyChanged(): void {
    this.#changeScheduled = false;
    if (this.#stopped) return;
    const touched = new Set<Run>([...this.#acked].filter((r) => this.#runs.has(r.id)));
    this.#acked.clear();
    const ids = this.#changed;
    this.#changed = new Set();
    const now = Date.now();
    try {
      if (ids.size > 0)
        this.store.transaction(() => {
          for (const id of ids) {
            const entry = this.#byMessage.get(id);
            if (entry === undefined) continue;
            const c = this.store.outboxChange(id);
            if (c === undefined || c.outboxState === 'pending') continue;
            const { run, node } = entry;
            if (!this.#runs.has(run.id) || c.outboxState === 'delivered') continue;
            touched.add(run);
            this.#finishNode(run, node, outcomeFromOutbox(c), id);
            this.#byMessage.delete(id);
          }
        });
    } catch (err) {
      // The sweep reads these rows again.
      this.#deps.log('error', 'cannot record job node changes', { error: String(err) });
    }
    // The replies held for these rows are ACKed once what they brought is in the journal.
    for (const id of ids) {
      const held = this.#held.get(id);
      if (held === undefined) continue;
      this.#held.delete(id);
      (this.#journaling.get(id) ?? Promise.resolve()).then(
        () => held.done(),
        (err: unknown) => held.done(err),
      );
    }
    for (const run of touched) {
      this.#changedJob(run.id);
      try {
        this.#advance(run, now);
      } catch (err) {
        this.#deps.log('error', 'job tick failed', { job: run.id, error: String(err) });
      }
    }
  }

  /**
   * What the ACK of a settled reply to one of `requests` waits for (NodeContext.holdReplies): its
   * node's end state in the journal. Undefined when nothing is to wait for (no journal, or not a
   * job's message).
   */
  hold(requests: readonly string[]): Promise<void> | undefined {
    if (this.#deps.journal === undefined) return undefined;
    const waits: Promise<void>[] = [];
    for (const id of requests) {
      const writing = this.#journaling.get(id);
      const retry = this.#unjournaled.get(id);
      if (writing !== undefined) waits.push(writing);
      else if (retry !== undefined) {
        this.#unjournaled.delete(id);
        waits.push(retry());
      } else if (this.#byMessage.has(id)) {
        let held = this.#held.get(id);
        if (held === undefined) {
          let done: (err?: unknown) => void = () => undefined;
          const promise = new Promise<void>((resolve, reject) => {
            done = (err) => (err === undefined ? resolve() : reject(err));
          });
          held = { promise, done };
          this.#held.set(id, held);
        }
        waits.push(held.promise);
      }
    }
    return waits.length === 0 ? undefined : Promise.all(waits).then(() => undefined);
  }

  /**
   * Continues the journal's running jobs (this central now leads): every node with an end state
   * keeps it, every node started and not ended is sent its message again under the same id (a
   * node that has it answers `duplicate` and does not run it twice), the rest wait their turn.
   * Returns how many jobs it took over.
   */
  async takeOver(): Promise<number> {
    const { journal } = this.#deps;
    if (journal === undefined) return 0;
    let n = 0;
    for (const job of await journal.running()) {
      if (this.#runs.has(job.id)) continue;
      const [started, outcomes] = await Promise.all([
        journal.started(job.id),
        journal.outcomes(job.id),
      ]);
      // The first batch goes out with the job: the journal's job record is its start.
      const first = job.spec.maxConcurrency > 0 ? job.spec.maxConcurrency : job.nodes.length;
      for (const node of job.nodes.slice(0, first)) started.add(node);
      this.#adopt(job, started, outcomes);
      n++;
    }
    if (n > 0) this.#deps.log('info', 'took over running jobs from the shared state', { jobs: n });
    return n;
  }

  #adopt(job: JournalJob, started: Set<string>, outcomes: Map<string, JournalOutcome>): void {
    const ids = jobMessageIds(this.#deps.ctx.identity.seed, job.id);
    const resend: string[] = [];
    const inOutbox = new Map<string, string>();
    for (const node of job.nodes) {
      if (outcomes.has(node) || !started.has(node)) continue;
      // This central may have sent it itself when it led before: its outbox row goes on.
      const id = ids(node);
      if (this.store.outboxChange(id) === undefined) resend.push(node);
      else inOutbox.set(node, id);
    }
    const sent = new Map<string, { messageId: string } | { error: string }>(
      [...inOutbox].map(([node, messageId]) => [node, { messageId }]),
    );
    this.store.transaction(() => {
      this.store.remove(job.id);
      for (const r of this.#enqueue(job.id, job.spec, resend))
        sent.set(
          r.node,
          r.id === undefined ? { error: r.error ?? 'not sent' } : { messageId: r.id },
        );
      this.store.create({
        id: job.id,
        spec: job.spec,
        submittedBy: job.submittedBy,
        nodes: job.nodes,
        started: sent,
        createdAt: job.createdAt,
      });
      for (const [node, o] of outcomes) {
        const { finishedAt: _at, ...outcome } = o;
        this.store.finishNode(job.id, node, outcome);
      }
    });
    const record = this.store.get(job.id);
    if (!record) return;
    const run = this.#load(record);
    this.#runs.set(job.id, run);
    for (const [node, s] of sent)
      if ('messageId' in s) this.#byMessage.set(s.messageId, { run, node });
    this.#tickRun(run, Date.now());
    this.#schedule();
    this.#changedJob(job.id);
  }

  /** Stops running jobs here (this central no longer leads); they stay in the journal. */
  suspend(): void {
    for (const set of this.#waiters.values()) for (const wake of set) wake();
    this.#waiters.clear();
    this.#runs.clear();
    this.#byMessage.clear();
    for (const held of this.#held.values()) held.done(new Error('this central no longer leads'));
    this.#held.clear();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#purgeTimer);
    this.#unwatch?.();
    for (const set of this.#waiters.values()) for (const wake of set) wake();
    this.#waiters.clear();
  }

  #purge(): void {
    const before = Date.now() - this.#deps.settings.retention * 1000;
    const n = this.store.purge(before);
    if (n > 0) this.#deps.log('info', 'purged finished jobs past retention', { jobs: n });
    this.#deps.journal?.purge(before).catch((err: unknown) =>
      this.#deps.log('warn', 'cannot purge finished jobs from the shared state', {
        error: String(err),
      }),
    );
  }

  #load(job: JobRecord): Run {
    const counts = countNodes(this.store.tally(job.id));
    const by = counts.byState;
    return {
      id: job.id,
      spec: job.spec,
      waiting: by.waiting ?? 0,
      running: (by.sent ?? 0) + (by.acknowledged ?? 0),
      errors: counts.failed + counts.noAnswer,
      cancelled: false,
      aborted: false,
      nextStartAt: 0,
      batchOpen: (by.sent ?? 0) + (by.acknowledged ?? 0) > 0,
      sending: false,
    };
  }

  /** Creates a job and starts it; throws JobError when the target matches no node. */
  async submit(
    req: ParsedJobSubmit,
    submittedBy: string,
    id: string = newMessageId(),
  ): Promise<JobView> {
    const existing = this.store.get(id);
    if (existing) return this.view(id, false) as JobView; // a replayed request
    const nodes = resolveTarget(req.target, this.#deps.candidates());
    if (nodes.length === 0) {
      throw new JobError('the target matched no node', 'ADMIRAL_JOB_NO_NODES');
    }
    const { settings } = this.#deps;
    const spec: JobSpec = {
      args: req.args,
      target: {
        ...(req.target.nodes !== undefined && { nodes: req.target.nodes }),
        ...(req.target.all === true && { all: true }),
        ...(req.target.where !== undefined && { where: whereToRecord(req.target.where) }),
      },
      maxConcurrency: resolveRateLimit(req.maxConcurrency, nodes.length),
      maxErrors: resolveRateLimit(req.maxErrors, nodes.length),
      batchSleepMs: req.batchSleepMs,
      methodTimeout: req.methodTimeout ?? settings.methodTimeout,
      ttl: req.ttl ?? settings.ttl,
      replyGrace: settings.replyGrace,
      ...(req.requestedBy !== undefined && { requestedBy: req.requestedBy }),
    };
    // On shared state the job is recorded there before anything is sent: a standby continues it.
    const { journal } = this.#deps;
    if (journal !== undefined) {
      await journal.putJob({
        id,
        spec,
        submittedBy,
        nodes,
        createdAt: Date.now(),
        state: 'running',
      });
      if (this.store.get(id)) return this.view(id, false) as JobView; // replayed meanwhile
    }
    // The first batch is sent in the transaction that creates the job: its rows are born `sent`.
    const first = nodes.slice(0, spec.maxConcurrency > 0 ? spec.maxConcurrency : nodes.length);
    const started = new Map<string, { messageId: string } | { error: string }>();
    this.store.transaction(() => {
      for (const r of this.#enqueue(id, spec, first)) {
        started.set(
          r.node,
          r.id === undefined ? { error: r.error ?? 'not sent' } : { messageId: r.id },
        );
      }
      this.store.create({ id, spec, submittedBy, nodes, started });
    });
    const job = this.store.get(id);
    if (!job) throw new JobError(`job ${id} vanished`, 'ADMIRAL_JOB_NOT_FOUND');
    const run = this.#load(job);
    this.#runs.set(id, run);
    for (const [node, s] of started)
      if ('messageId' in s) this.#byMessage.set(s.messageId, { run, node });
    this.#event(id, JOB_EVENTS.started, {
      args: spec.args,
      target: spec.target,
      total: nodes.length,
      submittedBy,
    });
    this.#deps.log('info', 'job started', { job: id, nodes: nodes.length, args: spec.args });
    this.#tickRun(run, Date.now());
    this.#schedule();
    this.#changedJob(id);
    return this.view(id, false) as JobView;
  }

  /** The job with its counts, and its nodes when `withNodes` (only `page` of them, if given). */
  view(
    id: string,
    withNodes = true,
    page?: { readonly offset: number; readonly limit: number },
  ): JobView | undefined {
    const job = this.store.get(id);
    if (!job) return undefined;
    return this.#viewOf(job, withNodes, page);
  }

  #viewOf(
    job: JobRecord,
    withNodes: boolean,
    page?: { readonly offset: number; readonly limit: number },
  ): JobView {
    const counts: JobCounts = countNodes(this.store.tally(job.id));
    const { args, target, ...options } = job.spec;
    return {
      id: job.id,
      state: job.state,
      ...(job.reason !== null && { reason: job.reason }),
      args,
      target,
      options,
      submittedBy: job.submittedBy,
      createdAt: job.createdAt,
      ...(job.finishedAt !== null && { finishedAt: job.finishedAt }),
      counts,
      ...(withNodes && {
        nodes: (page
          ? this.store.nodesPage(job.id, page.offset, page.limit)
          : this.store.nodes(job.id)
        ).map(nodeView),
      }),
    };
  }

  list(limit = 50): JobView[] {
    return this.store.list(limit).map((j) => this.#viewOf(j, false));
  }

  /** Resolves when the job has ended or `timeoutMs` passed; then returns its view. */
  async wait(
    id: string,
    timeoutMs: number,
    withNodes = true,
    page?: { offset: number; limit: number },
  ): Promise<JobView | undefined> {
    if (this.#runs.has(id) && timeoutMs > 0 && !this.#stopped) {
      await new Promise<void>((resolve) => {
        let set = this.#waiters.get(id);
        if (!set) {
          set = new Set();
          this.#waiters.set(id, set);
        }
        const waiters = set;
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        waiters.add(done);
      });
    }
    return this.view(id, withNodes, page);
  }

  /**
   * Cancels a job: nodes not started are never started, messages not yet delivered are
   * withdrawn, and running commands are cancelled on their node (REQCancel).
   */
  cancel(id: string): JobView {
    const job = this.store.get(id);
    if (!job) throw new JobError(`no job ${id}`, 'ADMIRAL_JOB_NOT_FOUND');
    const run = this.#runs.get(id);
    if (!run)
      throw new JobError(`job ${id} has already ended (${job.state})`, 'ADMIRAL_JOB_FINISHED');
    run.cancelled = true;
    this.#skipWaiting(run, 'not started: the job was cancelled');
    const { ctx } = this.#deps;
    const cancels: Record<string, unknown>[] = [];
    for (const n of this.store.nodes(id)) {
      if (n.messageId === null) continue;
      if (n.state === 'sent') {
        // Not delivered yet: withdraw it from the outbox; the next tick records `cancelled`.
        ctx.store.outbox.finish(n.messageId, 'cancelled', { error: 'the job was cancelled' });
      } else if (n.state === 'acknowledged' && HAS_CANCEL) {
        cancels.push({
          toNode: n.node,
          method: 'REQCancel',
          methodArgs: [n.messageId],
          replyMethod: 'REQNone',
          jobId: id,
          ttl: Math.max(1, Math.ceil(run.spec.methodTimeout)),
        });
      }
    }
    if (cancels.length > 0) ctx.services.submit(cancels);
    this.#tickRun(run, Date.now());
    this.#schedule();
    this.#changedJob(id);
    return this.view(id, false) as JobView;
  }

  #schedule(): void {
    if (this.#stopped || this.#timer !== undefined || this.#runs.size === 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const now = Date.now();
      const sweep = now - this.#lastSweep >= SWEEP_MS;
      if (sweep) this.#lastSweep = now;
      for (const run of [...this.#runs.values()]) {
        try {
          if (sweep) this.#tickRun(run, now);
          else this.#advance(run, now);
        } catch (err) {
          this.#deps.log('error', 'job tick failed', { job: run.id, error: String(err) });
        }
      }
      this.#schedule();
    }, TICK_MS);
  }

  /** A full pass over one job: every live row against its outbox row, overdue nodes, then advance. */
  #tickRun(run: Run, now: number): void {
    const { store } = this;
    const changes = store.outboxChanges(run.id);
    const answerMs = (run.spec.methodTimeout + run.spec.replyGrace) * 1000;
    const overdue = store.overdue(run.id, now - answerMs);
    if (changes.length > 0 || overdue.length > 0) {
      store.transaction(() => {
        for (const c of changes) {
          this.#finishNode(run, c.node, outcomeFromOutbox(c), c.messageId);
          this.#byMessage.delete(c.messageId);
        }
        for (const n of overdue) {
          this.#finishNode(
            run,
            n.node,
            {
              state: 'did-not-answer',
              error: `ACKed but no result within ${run.spec.methodTimeout + run.spec.replyGrace} s (methodTimeout ${run.spec.methodTimeout} s + replyGrace ${run.spec.replyGrace} s)`,
            },
            n.messageId ?? undefined,
          );
          if (n.messageId !== null) this.#byMessage.delete(n.messageId);
        }
      });
      this.#changedJob(run.id);
    }
    this.#advance(run, now);
  }

  /** Abort at maxErrors, start more nodes, end the job when every node has ended. */
  #advance(run: Run, now: number): void {
    if (!this.#runs.has(run.id)) return;
    const { maxErrors } = run.spec;
    if (!run.aborted && !run.cancelled && maxErrors > 0 && run.errors >= maxErrors) {
      run.aborted = true;
      this.#skipWaiting(
        run,
        `not started: the job was aborted after ${run.errors} errors (maxErrors ${maxErrors})`,
      );
    }
    if (!run.aborted && !run.cancelled) this.#startMore(run, now);
    if (run.waiting === 0 && run.running === 0) this.#end(run);
  }

  #finishNode(run: Run, node: string, outcome: JobNodeOutcome, messageId?: string): void {
    if (!this.store.finishNode(run.id, node, outcome)) return;
    this.#journalOutcome(run.id, node, outcome, messageId);
    run.running--;
    const o = outcomeOf({
      state: outcome.state,
      ...(outcome.exitCode !== undefined && { exitCode: outcome.exitCode }),
    });
    if (o === 'failed' || o === 'no-answer') run.errors++;
  }

  /** Writes a node's end state to the journal; a reply's ACK waits for it (hold). */
  #journalOutcome(jobId: string, node: string, outcome: JobNodeOutcome, messageId?: string): void {
    const { journal, log } = this.#deps;
    if (journal === undefined) return;
    const write = (): Promise<void> => {
      const p = journal.putOutcome(jobId, node, outcome, Date.now());
      if (messageId === undefined) return p;
      this.#journaling.set(messageId, p);
      p.then(
        () => this.#journaling.delete(messageId),
        () => {
          this.#journaling.delete(messageId);
          this.#unjournaled.set(messageId, write);
        },
      );
      return p;
    };
    write().catch((err: unknown) =>
      log('warn', 'cannot write a job node end state to the shared state', {
        job: jobId,
        node,
        error: String(err),
      }),
    );
  }

  #skipWaiting(run: Run, reason: string): void {
    if (run.waiting === 0) return;
    const waiting = this.store.waiting(run.id, run.waiting);
    this.store.transaction(() => {
      for (const n of waiting) {
        const outcome = { state: 'cancelled' as const, error: reason };
        if (this.store.finishNode(run.id, n.node, outcome)) {
          run.waiting--;
          this.#journalOutcome(run.id, n.node, outcome);
        }
      }
    });
  }

  #startMore(run: Run, now: number): void {
    if (run.waiting === 0 || run.sending) return;
    const { maxConcurrency, batchSleepMs } = run.spec;
    let room: number;
    if (maxConcurrency > 0 && batchSleepMs > 0) {
      // Choria's batches: a whole batch runs, then the sleep, then the next batch.
      if (run.batchOpen) {
        if (run.running > 0) return;
        run.batchOpen = false;
        run.nextStartAt = now + batchSleepMs;
      }
      if (now < run.nextStartAt) return;
      room = maxConcurrency;
      run.batchOpen = true;
    } else {
      room = maxConcurrency > 0 ? maxConcurrency - run.running : run.waiting;
    }
    if (room <= 0) return;
    const next = this.store.waiting(run.id, room);
    if (next.length === 0) return;
    this.#send(run, next);
  }

  #send(run: Run, nodes: readonly JobNodeRecord[]): void {
    const { journal } = this.#deps;
    if (journal === undefined) {
      this.#sendNow(run, nodes);
      return;
    }
    // On shared state a batch is recorded before it is sent: a standby sends it again (same ids).
    run.sending = true;
    journal
      .putStarted(
        run.id,
        nodes.map((n) => n.node),
      )
      .then(
        () => {
          run.sending = false;
          if (this.#stopped || this.#runs.get(run.id) !== run || run.cancelled || run.aborted)
            return;
          this.#sendNow(run, nodes);
          this.#schedule();
        },
        (err: unknown) => {
          run.sending = false;
          this.#deps.log('warn', 'cannot record a batch in the shared state; trying again', {
            job: run.id,
            error: String(err),
          });
        },
      );
  }

  #sendNow(run: Run, nodes: readonly JobNodeRecord[]): void {
    // The job rows and the outbox rows commit together: a crash cannot leave a node marked
    // waiting whose message was already sent (it would be sent, and run, twice).
    this.store.transaction(() => {
      for (const r of this.#enqueue(
        run.id,
        run.spec,
        nodes.map((n) => n.node),
      )) {
        run.waiting--;
        if (r.id !== undefined && this.store.markSent(run.id, r.node, r.id)) {
          run.running++;
          this.#byMessage.set(r.id, { run, node: r.node });
        } else {
          this.store.finishNode(run.id, r.node, {
            state: 'rejected',
            error: r.error ?? 'not sent: duplicate message id',
          });
          run.errors++;
          this.#journalOutcome(run.id, r.node, {
            state: 'rejected',
            error: r.error ?? 'not sent: duplicate message id',
          });
        }
      }
    });
    this.#changedJob(run.id);
  }

  /**
   * Enqueues the job's message to each node (in the caller's transaction): in inputs well below
   * the input limits (protocol/limits.ts) however large the fleet, each validated once by the
   * node and expanded (toNodes) into one message per node with its own id, in this order.
   */
  #enqueue(
    jobId: string,
    spec: JobSpec,
    nodes: readonly string[],
  ): { node: string; id?: string; error?: string }[] {
    const out: { node: string; id?: string; error?: string }[] = [];
    const idFor = jobMessageIds(this.#deps.ctx.identity.seed, jobId);
    for (let i = 0; i < nodes.length; i += SEND_CHUNK) {
      const chunk = nodes.slice(i, i + SEND_CHUNK);
      const result = this.#deps.ctx.services.submit(
        [
          {
            toNodes: chunk,
            method: 'REQCliCommand',
            methodArgs: [...spec.args],
            // The result settles the outbox row (executor, inReplyTo); nothing else is done with it.
            replyMethod: 'REQNone',
            jobId,
            methodTimeout: spec.methodTimeout,
            ttl: Math.max(1, Math.ceil(spec.ttl)),
          },
        ],
        { idFor },
      );
      const errors = result.rejected[0]?.errors;
      chunk.forEach((node, k) => {
        const id = errors === undefined ? result.accepted[k] : undefined;
        out.push(
          id === undefined
            ? { node, error: `not sent: ${(errors ?? ['duplicate message id']).join('; ')}` }
            : { node, id },
        );
      });
    }
    return out;
  }

  #end(run: Run): void {
    const counts = countNodes(this.store.tally(run.id));
    let state: 'completed' | 'failed' | 'aborted' | 'cancelled';
    let reason: string | undefined;
    if (run.cancelled) {
      state = 'cancelled';
      reason = 'cancelled by an operator';
    } else if (run.aborted) {
      state = 'aborted';
      const skipped = counts.byState.cancelled ?? 0;
      reason = `aborted after ${run.errors} errors (maxErrors ${run.spec.maxErrors}); ${skipped} node${skipped === 1 ? '' : 's'} not started`;
    } else if (counts.succeeded === counts.total) {
      state = 'completed';
    } else {
      state = 'failed';
      reason = `${counts.failed} failed, ${counts.noAnswer} did not answer`;
    }
    this.store.finish(run.id, state, reason);
    this.#deps.journal?.finishJob(run.id, state, reason, Date.now()).catch((err: unknown) =>
      this.#deps.log('warn', 'cannot record the end of a job in the shared state', {
        job: run.id,
        error: String(err),
      }),
    );
    this.#runs.delete(run.id);
    for (const [id, entry] of this.#byMessage) if (entry.run === run) this.#byMessage.delete(id);
    this.#event(run.id, JOB_EVENTS.finished, { state, ...(reason && { reason }), counts });
    this.#deps.log('info', 'job finished', { job: run.id, state, reason });
    this.#changedJob(run.id);
    const waiters = this.#waiters.get(run.id);
    this.#waiters.delete(run.id);
    for (const wake of waiters ?? []) wake();
  }

  #event(id: string, event: JobEventName, fields: Record<string, unknown>): void {
    const { nc, subjects } = this.#deps.ctx;
    if (nc.isClosed()) return;
    nc.publish(
      subjects.jobEvent(id, event),
      JSON.stringify({ job: id, event, at: Date.now(), ...fields }),
    );
  }
}
