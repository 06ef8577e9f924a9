import type { Bucket } from '@nats-io/kv';
import { randomUUID } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import * as z from 'zod';
import { type Identity, isValidNodeName } from '../../protocol/index.js';
import { JOB_NODE_STATES, type JobNodeOutcome, type JobSpec, type JobState } from '../jobs.js';
import { bucketKeys, type JetStreamStateOptions, openBucket, whileLeaderless } from './buckets.js';
import { seal, unseal } from './sealed.js';

// Jobs on shared state: what a standby needs to continue the running jobs of a leader that died
// (DESIGN.md, "Security by default": "a standby takes over a running job where it stood, from the
// shared state, without sending any node its command twice"). One KV bucket, `<prefix>_jobs`:
//   job.<id>               the job as submitted (spec, who asked, its nodes in target order) and
//                          its state; written before the submitter gets the job's id
//   started.<id>.<first>   the nodes of a batch, written before any of its messages is sent
//   ends.<id>.<uuid>       the end states of nodes that ended together (the replies of one settled
//                          batch, by node), written before those replies are ACKed: one put per
//                          batch instead of one per node (docs/benchmarks.md, bench/fleet)
// The leader's SQLite job store stays its working copy (every read, the dashboard's pages);
// this journal is what outlives it. A node's message id is the same whichever central sends it
// (job-runner.ts), so a node that already has it answers `duplicate` and does not run it again.

const JobSchema = z.strictObject({
  id: z.string(),
  spec: z.custom<JobSpec>((v) => typeof v === 'object' && v !== null),
  submittedBy: z.string(),
  nodes: z.array(z.string()),
  createdAt: z.number().int(),
  state: z.enum(['running', 'completed', 'failed', 'aborted', 'cancelled']),
  reason: z.string().optional(),
  finishedAt: z.number().int().optional(),
});
export type JournalJob = z.output<typeof JobSchema>;

const OutcomeSchema = z.strictObject({
  state: z.enum(JOB_NODE_STATES),
  exitCode: z.number().int().optional(),
  output: z.string().optional(),
  stderr: z.string().optional(),
  error: z.string().optional(),
  ackedAt: z.number().int().optional(),
  finishedAt: z.number().int(),
});
export type JournalOutcome = z.output<typeof OutcomeSchema>;

const StartedSchema = z.array(z.string());
const EndsSchema = z.record(z.string(), OutcomeSchema);

/** Bytes of end states per `ends` entry: well under nats-server's default max_payload (1 MiB). */
const ENDS_BYTES = 256 * 1024;

interface PendingEnds {
  readonly values: Map<string, JournalOutcome>;
  readonly waiters: { resolve: () => void; reject: (err: unknown) => void }[];
}

export class JobJournal {
  /** End states waiting for this turn of the event loop to end, by job. */
  readonly #pending = new Map<string, PendingEnds>();
  #scheduled = false;

  private constructor(
    readonly kv: Bucket,
    readonly identity: Identity,
  ) {}

  /** The journal of `nc`'s fleet; its values are sealed by, and taken only from, `identity`. */
  static async open(
    nc: NatsConnection,
    options: JetStreamStateOptions,
    identity: Identity,
  ): Promise<JobJournal> {
    return new JobJournal(await openBucket(nc, 'jobs', options), identity);
  }

  /**
   * The value of `key`, when the centrals' key sealed it and it parses as `schema`; anything else
   * (written by someone without that key, or not a record) is as if absent: it must neither run
   * on the fleet nor stop a takeover. A read that fails is thrown.
   */
  async #get<T>(key: string, schema: z.ZodType<T>): Promise<T | undefined> {
    const e = await whileLeaderless(() => this.kv.get(key));
    if (e === null || e.operation !== 'PUT') return undefined;
    const text = unseal(this.kv.bucket, key, e.string(), this.identity.publicKey);
    if (text === undefined) return undefined;
    try {
      const parsed = schema.safeParse(JSON.parse(text));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }

  async #put(key: string, value: unknown): Promise<void> {
    const sealed = seal(this.kv.bucket, key, JSON.stringify(value), this.identity);
    await whileLeaderless(() => this.kv.put(key, sealed));
  }

  putJob(job: JournalJob): Promise<void> {
    return this.#put(`job.${job.id}`, job);
  }

  /** Records that `nodes` of the job are being sent (a batch, named by its first node). */
  putStarted(jobId: string, nodes: readonly string[]): Promise<void> {
    if (nodes.length === 0) return Promise.resolve();
    return this.#put(`started.${jobId}.${nodes[0]}`, nodes);
  }

  /**
   * Records a node's end state; resolves once it is stored. The end states given in one turn of
   * the event loop (a settled batch of replies) are written together, one entry per job.
   */
  putOutcome(
    jobId: string,
    node: string,
    outcome: JobNodeOutcome,
    finishedAt: number,
  ): Promise<void> {
    const value: JournalOutcome = {
      state: outcome.state,
      ...(outcome.exitCode !== undefined && { exitCode: outcome.exitCode }),
      ...(outcome.output !== undefined && { output: outcome.output }),
      ...(outcome.stderr !== undefined && { stderr: outcome.stderr }),
      ...(outcome.error !== undefined && { error: outcome.error }),
      ...(outcome.ackedAt !== undefined && { ackedAt: outcome.ackedAt }),
      finishedAt,
    };
    let pending = this.#pending.get(jobId);
    if (pending === undefined) {
      pending = { values: new Map(), waiters: [] };
      this.#pending.set(jobId, pending);
    }
    pending.values.set(node, value);
    const waiters = pending.waiters;
    const done = new Promise<void>((resolve, reject) => waiters.push({ resolve, reject }));
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flushEnds());
    }
    return done;
  }

  #flushEnds(): void {
    this.#scheduled = false;
    const batches = [...this.#pending];
    this.#pending.clear();
    for (const [jobId, { values, waiters }] of batches) {
      const chunks: Record<string, JournalOutcome>[] = [];
      let chunk: Record<string, JournalOutcome> = {};
      let bytes = 0;
      for (const [node, value] of values) {
        const size = JSON.stringify(value).length + node.length + 8;
        if (bytes > 0 && bytes + size > ENDS_BYTES) {
          chunks.push(chunk);
          chunk = {};
          bytes = 0;
        }
        chunk[node] = value;
        bytes += size;
      }
      chunks.push(chunk);
      Promise.all(chunks.map((c) => this.#put(`ends.${jobId}.${randomUUID()}`, c))).then(
        () => {
          for (const w of waiters) w.resolve();
        },
        (err: unknown) => {
          for (const w of waiters) w.reject(err);
        },
      );
    }
  }

  async finishJob(
    id: string,
    state: Exclude<JobState, 'running'>,
    reason: string | undefined,
    finishedAt: number,
  ): Promise<void> {
    const job = await this.#get(`job.${id}`, JobSchema);
    if (job === undefined) return;
    await this.putJob({ ...job, state, ...(reason !== undefined && { reason }), finishedAt });
  }

  async job(id: string): Promise<JournalJob | undefined> {
    return this.#get(`job.${id}`, JobSchema);
  }

  /** The jobs still running, oldest first. */
  async running(): Promise<JournalJob[]> {
    const keys = await bucketKeys(this.kv, 'job.*');
    const jobs = await Promise.all(keys.map((k) => this.#get(k, JobSchema)));
    return jobs
      .filter((j): j is JournalJob => j !== undefined && j.state === 'running')
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
  }

  /** The nodes of the job that were started (sent at least once), in no order. */
  async started(jobId: string): Promise<Set<string>> {
    const keys = await bucketKeys(this.kv, `started.${jobId}.*`);
    const batches = await Promise.all(keys.map((k) => this.#get(k, StartedSchema)));
    return new Set(batches.flatMap((b) => b ?? []));
  }

  /** The end states recorded for the job's nodes, by node. */
  async outcomes(jobId: string): Promise<Map<string, JournalOutcome>> {
    const keys = await bucketKeys(this.kv, `ends.${jobId}.*`);
    const out = new Map<string, JournalOutcome>();
    const entries = await Promise.all(keys.map((k) => this.#get(k, EndsSchema)));
    for (const ends of entries) {
      for (const [node, o] of Object.entries(ends ?? {})) {
        if (!isValidNodeName(node)) continue;
        const seen = out.get(node);
        if (seen === undefined || seen.finishedAt < o.finishedAt) out.set(node, o);
      }
    }
    return out;
  }

  /** Drops the jobs that finished at or before `before`, with their batches and nodes. */
  async purge(before: number): Promise<number> {
    let n = 0;
    for (const key of await bucketKeys(this.kv, 'job.*')) {
      const job = await this.#get(key, JobSchema);
      if (job === undefined || job.state === 'running' || (job.finishedAt ?? 0) > before) continue;
      for (const k of [
        ...(await bucketKeys(this.kv, `started.${job.id}.*`)),
        ...(await bucketKeys(this.kv, `ends.${job.id}.*`)),
      ])
        await whileLeaderless(() => this.kv.purge(k));
      await whileLeaderless(() => this.kv.purge(key));
      n++;
    }
    return n;
  }
}
