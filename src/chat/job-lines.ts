import { outcomeOf, type JobNodeView, type JobView } from '../fleet/job-view.js';

// A job as chat lines: a few lines per node, failures first, and a summary with a pointer to
// the whole output, so that a fleet of 5,000 gets a dozen lines and not 5,000.

export interface JobLinesOptions {
  /** Most output lines shown per node; default 3. */
  readonly linesPerNode: number;
  /** Most lines for all nodes together; nodes past it are only counted; default 12. */
  readonly maxLines: number;
  /** A link to the job (`{id}` replaced), e.g. the dashboard's; default none. */
  readonly jobUrl?: string;
}

export const DEFAULT_JOB_LINES: JobLinesOptions = { linesPerNode: 3, maxLines: 12 };

/** Where the whole job is: the CLI command, and the link when there is one. */
export function jobPointer(id: string, jobUrl: string | undefined): string {
  const url = jobUrl === undefined ? '' : ` or ${jobUrl.replaceAll('{id}', id)}`;
  return `full output: admiral jobs show ${id}${url}`;
}

function outputLines(text: string | undefined): string[] {
  return (text ?? '')
    .split(/\r\n|\n|\r/)
    .map((l) => l.trimEnd())
    .filter((l) => l !== '');
}

function nodeHeadline(n: JobNodeView): { head: string; lines: string[] } {
  const o = outcomeOf(n);
  const out = outputLines(n.output);
  if (o === 'succeeded') return { head: '', lines: out.length > 0 ? out : ['(no output)'] };
  const exit = n.exitCode !== undefined ? `, exit ${n.exitCode}` : '';
  const head = o === 'running' ? `${n.state}` : `${n.state}${exit}`;
  const why = outputLines(n.stderr ?? n.error);
  return { head, lines: [...why, ...out] };
}

const RANK: Readonly<Record<string, number>> = {
  failed: 0,
  'no-answer': 1,
  running: 2,
  succeeded: 3,
};

/** Lines per node (at most `linesPerNode` each, `maxLines` in all, one more for the rest), failures first. */
export function nodeLines(nodes: readonly JobNodeView[], options: JobLinesOptions): string[] {
  const sorted = [...nodes].sort(
    (a, b) => (RANK[outcomeOf(a)] ?? 9) - (RANK[outcomeOf(b)] ?? 9) || a.node.localeCompare(b.node),
  );
  const shown = sorted.slice(0, Math.max(1, options.maxLines));
  const perNode = Math.max(
    1,
    Math.min(options.linesPerNode, Math.floor(options.maxLines / Math.max(1, shown.length))),
  );
  const lines: string[] = [];
  for (const n of shown) {
    const { head, lines: body } = nodeHeadline(n);
    const prefix = `${n.node}:${head === '' ? '' : ` [${head}]`}`;
    const take = body.slice(0, perNode).map((l) => `${prefix} ${l}`);
    if (take.length === 0) take.push(prefix);
    // What is left is counted on the node's last line, so lines stay within maxLines.
    const more = body.length - Math.min(body.length, perNode);
    if (more > 0) take[take.length - 1] += ` (+${more} more line${more === 1 ? '' : 's'})`;
    lines.push(...take);
  }
  const hidden = sorted.length - shown.length;
  if (hidden > 0) lines.push(`… and ${hidden} more nodes`);
  return lines;
}

/** The closing line: how the job ended and where the rest is. */
export function jobSummary(job: JobView, jobUrl: string | undefined): string {
  const c = job.counts;
  const parts = [`${c.succeeded} succeeded`];
  if (c.failed > 0) parts.push(`${c.failed} failed`);
  if (c.noAnswer > 0) parts.push(`${c.noAnswer} no answer`);
  const running = c.total - c.finished;
  if (running > 0) parts.push(`${running} running`);
  const took =
    job.finishedAt !== undefined
      ? ` in ${((job.finishedAt - job.createdAt) / 1000).toFixed(1)} s`
      : '';
  const reason = job.reason !== undefined ? ` (${job.reason})` : '';
  return `job ${job.id} ${job.state}${reason}: ${parts.join(', ')} of ${c.total}${took}; ${jobPointer(job.id, jobUrl)}`;
}

/** A list of names on one line: as many as fit, then how many more. */
export function nameList(names: readonly string[], maxChars = 300): string {
  let out = '';
  for (let i = 0; i < names.length; i++) {
    const next = out === '' ? names[i]! : `${out}, ${names[i]}`;
    if (next.length > maxChars) return `${out} … and ${names.length - i} more`;
    out = next;
  }
  return out;
}
