import { type JobCounts, type JobNodeView, type JobView, outcomeOf } from '../fleet/job-view.js';
import { type Format, renderRows } from './output.js';

// How `admiral run` and `admiral jobs show` print a job: each node's output, then a summary
// that names every node that failed or did not answer (Salt's complaint, answered).

export const NODE_COLS = ['node', 'state', 'exitCode', 'output', 'stderr', 'error'] as const;
/** Every column a node's row of a job has (JobNodeView and the job's id). */
export const ALL_NODE_COLS = [
  ...NODE_COLS,
  'job',
  'messageId',
  'sentAt',
  'ackedAt',
  'finishedAt',
] as const;
export const JOB_COLS = [
  'id',
  'state',
  'created',
  'total',
  'succeeded',
  'failed',
  'noAnswer',
  'command',
] as const;

function describe(n: JobNodeView): string {
  if (n.exitCode !== undefined) return `${n.state}, exit ${n.exitCode}`;
  return n.state;
}

function indent(text: string): string {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

/** One block per node: a header line, its output and stderr indented. */
export function renderNodes(nodes: readonly JobNodeView[]): string {
  const out: string[] = [];
  for (const n of nodes) {
    out.push(`${n.node}: ${describe(n)}`);
    if (n.output) out.push(indent(n.output));
    if (n.stderr) out.push(indent(`stderr: ${n.stderr}`));
    // "exited with code N" repeats the header; any other error says why (a program not found).
    if (n.error && !(n.exitCode !== undefined && /^command exited with code \d+$/.test(n.error))) {
      out.push(indent(`error: ${n.error}`));
    }
  }
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}

/** The closing lines: counts, then who failed and who did not answer. */
export function renderSummary(job: JobView, elapsedMs?: number): string {
  const c = job.counts;
  const lines: string[] = [];
  const took =
    elapsedMs === undefined
      ? ''
      : elapsedMs < 1000
        ? ` in ${Math.round(elapsedMs)} ms`
        : ` in ${(elapsedMs / 1000).toFixed(1)} s`;
  lines.push(
    `job ${job.id} ${job.state}${took}: ${c.total} node${c.total === 1 ? '' : 's'}, ${c.succeeded} succeeded, ${c.failed} failed, ${c.noAnswer} did not answer`,
  );
  // A failed job's reason repeats the counts; an aborted or cancelled one says why it stopped.
  if (job.reason && job.state !== 'failed') lines.push(`  ${job.reason}`);
  const nodes = job.nodes ?? [];
  const failed = nodes.filter((n) => outcomeOf(n) === 'failed');
  const silent = nodes.filter((n) => outcomeOf(n) === 'no-answer');
  if (failed.length > 0) {
    lines.push(
      `failed (${failed.length}): ${failed.map((n) => `${n.node} (${describe(n)})`).join(', ')}`,
    );
  }
  if (silent.length > 0) {
    lines.push(
      `did not answer (${silent.length}): ${silent.map((n) => `${n.node} (${n.state})`).join(', ')}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The whole result in the chosen format. */
export function renderJob(
  job: JobView,
  format: Format,
  cols: readonly string[] | undefined,
  elapsedMs?: number,
): string {
  if (format === 'json') return `${JSON.stringify(job, null, 2)}\n`;
  if (format === 'text' && cols === undefined) {
    return renderNodes(job.nodes ?? []) + renderSummary(job, elapsedMs);
  }
  const rows = (job.nodes ?? []).map((n) => ({ ...n, job: job.id }));
  return renderRows(rows, format, cols ?? NODE_COLS, ALL_NODE_COLS);
}

/** One row per job for `admiral jobs`. */
export function jobRow(job: JobView): Record<string, unknown> {
  return {
    id: job.id,
    state: job.state,
    created: new Date(job.createdAt).toISOString(),
    finished: job.finishedAt === undefined ? '' : new Date(job.finishedAt).toISOString(),
    total: job.counts.total,
    acknowledged: job.counts.acknowledged,
    succeeded: job.counts.succeeded,
    failed: job.counts.failed,
    noAnswer: job.counts.noAnswer,
    command: job.args.join(' '),
    reason: job.reason ?? '',
  };
}

/** The live line: a bar of finished nodes, then acknowledged, completed and failed counts. */
export function progressLine(c: JobCounts, width = 24): string {
  const done = c.total === 0 ? 0 : Math.round((c.finished / c.total) * width);
  const bar = `${'#'.repeat(done)}${'.'.repeat(width - done)}`;
  return `[${bar}] acknowledged ${c.acknowledged}/${c.total}  completed ${c.finished}/${c.total}  failed ${c.failed + c.noAnswer}`;
}
