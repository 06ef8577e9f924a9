import * as z from 'zod';
import { parseRateLimit, type RateLimit } from './rate.js';
import { type Filter, type Target, TargetError, whereFromRecord } from './target.js';

// What a client asks of central's job service, one shape for the CLI (over NATS, signed) and
// the HTTP API (POST /api/v1/jobs): the command, the target and the rate control.

const rateLimit = z.union([z.string(), z.number()]);
const duration = z.union([
  z.number().nonnegative(),
  z.string().regex(/^\d+(\.\d+)?(ms|s|m|h)?$/, { message: 'a duration like 500ms, 2s or 1m' }),
]);

export const JobSubmitSchema = z.strictObject({
  /** argv of the command each node runs (REQCliCommand's methodArgs). */
  args: z.array(z.string()).min(1, { message: 'at least the command' }),
  /** Explicit node names. */
  nodes: z.array(z.string()).optional(),
  /** Every node in the inventory. */
  all: z.boolean().optional(),
  /** Fact filters: `{"fact": "glob"}` or `{"fact": {">=": "4"}}`, ANDed. */
  where: z.record(z.string(), z.unknown()).optional(),
  /** `N` or `N%`: most nodes running at once. */
  maxConcurrency: rateLimit.optional(),
  /** `N` or `N%`: after this many errors no new node is started. */
  maxErrors: rateLimit.optional(),
  /** Pause between batches (with maxConcurrency): seconds, or `500ms`, `2s`, `1m`. */
  batchSleep: duration.optional(),
  /** Seconds the command may run on each node. */
  methodTimeout: z.number().positive().optional(),
  /** Seconds each node's message may wait for delivery. */
  ttl: z.number().positive().optional(),
  /** Who asked, as the (trusted) submitter names them, e.g. the chat bridge's `irc:nick!user@host`; shown with the job, never checked. */
  requestedBy: z.string().min(1).max(256).optional(),
});
export type JobSubmit = z.infer<typeof JobSubmitSchema>;

/** A job request that does not validate. */
export class JobRequestError extends Error {
  override readonly name = 'JobRequestError';
  readonly code = 'ADMIRAL_JOB_REQUEST';
}

export interface ParsedJobSubmit {
  readonly args: readonly string[];
  readonly target: Target;
  readonly maxConcurrency?: RateLimit;
  readonly maxErrors?: RateLimit;
  readonly batchSleepMs: number;
  readonly methodTimeout?: number;
  readonly ttl?: number;
  readonly requestedBy?: string;
}

function durationMs(value: string | number): number {
  if (typeof value === 'number') return value * 1000;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value);
  const n = Number(m?.[1] ?? 0);
  const unit = m?.[2] ?? 's';
  return Math.round(
    n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000),
  );
}

/** Validates a submit body; throws JobRequestError naming the bad field. */
export function parseJobSubmit(body: unknown): ParsedJobSubmit {
  const r = JobSubmitSchema.safeParse(body);
  if (!r.success) {
    const issues = r.error.issues.map(
      (i) => `${i.path.length > 0 ? `\`${i.path.join('.')}\`: ` : ''}${i.message}`,
    );
    throw new JobRequestError(`invalid job request: ${issues.join('; ')}`);
  }
  const v = r.data;
  let where: Filter[] | undefined;
  try {
    where = v.where === undefined ? undefined : whereFromRecord(v.where);
  } catch (err) {
    if (err instanceof TargetError) throw new JobRequestError(err.message, { cause: err });
    throw err;
  }
  const target: Target = {
    ...(v.nodes !== undefined && { nodes: v.nodes }),
    ...(v.all === true && { all: true }),
    ...(where !== undefined && where.length > 0 && { where }),
  };
  try {
    return {
      args: v.args,
      target,
      ...(v.maxConcurrency !== undefined && {
        maxConcurrency: parseRateLimit(v.maxConcurrency, 'maxConcurrency'),
      }),
      ...(v.maxErrors !== undefined && { maxErrors: parseRateLimit(v.maxErrors, 'maxErrors') }),
      batchSleepMs: v.batchSleep === undefined ? 0 : durationMs(v.batchSleep),
      ...(v.methodTimeout !== undefined && { methodTimeout: v.methodTimeout }),
      ...(v.ttl !== undefined && { ttl: v.ttl }),
      ...(v.requestedBy !== undefined && { requestedBy: v.requestedBy }),
    };
  } catch (err) {
    throw new JobRequestError((err as Error).message, { cause: err });
  }
}

/** What the CLI sends to `adm.central.jobs` (inside a signed request). */
export type JobsRequest =
  | { readonly op: 'submit'; readonly job: JobSubmit }
  | {
      readonly op: 'get';
      readonly id: string;
      /** Wait up to this many seconds for the job to end. */
      readonly wait?: number;
      /** Include per-node results; default true. */
      readonly nodes?: boolean;
      /** Only this page of the per-node results, in target order (a large job's answer would
       * pass the broker's max_payload otherwise). */
      readonly offset?: number;
      readonly limit?: number;
    }
  | { readonly op: 'list'; readonly limit?: number }
  | { readonly op: 'cancel'; readonly id: string };
