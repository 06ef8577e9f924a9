import type { JobNodeState, JobState } from '../store/jobs.js';

// What a job looks like to clients (CLI, HTTP API, `admiral jobs show`), how a node's end state
// counts (succeeded, failed, did not answer) and the exit code `admiral run` ends with.

export interface JobNodeView {
  readonly node: string;
  readonly state: JobNodeState;
  readonly exitCode?: number;
  readonly output?: string;
  readonly stderr?: string;
  readonly error?: string;
  /** The id of the node's message (the `uuid` of amiral's replies). */
  readonly messageId?: string;
  readonly sentAt?: number;
  readonly ackedAt?: number;
  readonly finishedAt?: number;
}

export interface JobCounts {
  readonly total: number;
  /** Nodes that ACKed their message (stored it). */
  readonly acknowledged: number;
  /** Nodes that reached a terminal state. */
  readonly finished: number;
  readonly succeeded: number;
  /** Terminal, not succeeded, and answered (failed, non-zero exit, interrupted, cancelled, …). */
  readonly failed: number;
  /** expired (never took the message) or did-not-answer (took it, no result in time). */
  readonly noAnswer: number;
  readonly byState: Readonly<Record<string, number>>;
}

export interface JobView {
  readonly id: string;
  readonly state: JobState;
  readonly reason?: string;
  readonly args: readonly string[];
  readonly target: Readonly<Record<string, unknown>>;
  readonly options: Readonly<Record<string, unknown>>;
  readonly submittedBy: string;
  readonly createdAt: number;
  readonly finishedAt?: number;
  readonly counts: JobCounts;
  /** Absent in summaries. */
  readonly nodes?: readonly JobNodeView[];
}

/** How a node's end state counts. */
export type Outcome = 'succeeded' | 'failed' | 'no-answer' | 'running';

export function outcomeOf(n: Pick<JobNodeView, 'state' | 'exitCode'>): Outcome {
  switch (n.state) {
    case 'waiting':
    case 'sent':
    case 'acknowledged':
      return 'running';
    case 'completed':
      return n.exitCode === undefined || n.exitCode === 0 ? 'succeeded' : 'failed';
    case 'expired':
    case 'did-not-answer':
      return 'no-answer';
    default:
      return 'failed';
  }
}

/** Exit codes of `admiral run` and `admiral jobs show` (docs/jobs.md, "Exit codes"). */
export const EXIT_CODES = {
  /** Every targeted node succeeded (completed, exit code 0). */
  ok: 0,
  /** The command could not be carried out (bad arguments, central unreachable, …). */
  error: 1,
  /** Some nodes failed; every node answered. */
  someFailed: 2,
  /** Some nodes did not answer; none failed. */
  someNoAnswer: 3,
  /** Some nodes failed and some did not answer. */
  failedAndNoAnswer: 4,
  /** The job matched no node. */
  noNodes: 5,
} as const;

export function exitCodeOf(counts: Pick<JobCounts, 'total' | 'failed' | 'noAnswer'>): number {
  if (counts.total === 0) return EXIT_CODES.noNodes;
  if (counts.failed > 0 && counts.noAnswer > 0) return EXIT_CODES.failedAndNoAnswer;
  if (counts.failed > 0) return EXIT_CODES.someFailed;
  if (counts.noAnswer > 0) return EXIT_CODES.someNoAnswer;
  return EXIT_CODES.ok;
}

/** A group of a job's nodes that count alike: state, exit code, whether they ACKed. */
export interface NodeTally {
  readonly state: JobNodeState;
  readonly exitCode?: number;
  readonly acked: boolean;
  readonly n: number;
}

/** Counts from grouped per-node states. */
export function countNodes(groups: Iterable<NodeTally>): JobCounts {
  const byState: Record<string, number> = {};
  let total = 0;
  let acknowledged = 0;
  let finished = 0;
  let succeeded = 0;
  let failed = 0;
  let noAnswer = 0;
  for (const g of groups) {
    total += g.n;
    byState[g.state] = (byState[g.state] ?? 0) + g.n;
    if (g.acked) acknowledged += g.n;
    const o = outcomeOf(g);
    if (o !== 'running') finished += g.n;
    if (o === 'succeeded') succeeded += g.n;
    else if (o === 'failed') failed += g.n;
    else if (o === 'no-answer') noAnswer += g.n;
  }
  return { total, acknowledged, finished, succeeded, failed, noAnswer, byState };
}

/** Counts of individual nodes. */
export function countNodeViews(nodes: readonly JobNodeView[]): JobCounts {
  return countNodes(
    nodes.map((n) => ({
      state: n.state,
      ...(n.exitCode !== undefined && { exitCode: n.exitCode }),
      acked: n.ackedAt !== undefined,
      n: 1,
    })),
  );
}
