import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jobSummary, nameList, nodeLines } from '../../src/chat/job-lines.js';
import type { JobNodeView, JobView } from '../../src/fleet/job-view.js';
import { countNodeViews } from '../../src/fleet/job-view.js';

const ok = (node: string, output: string): JobNodeView => ({
  node,
  state: 'completed',
  exitCode: 0,
  output,
});

test('a big fleet gets a dozen lines, failures first, and the rest counted', () => {
  const nodes: JobNodeView[] = Array.from({ length: 5000 }, (_, i) =>
    ok(`n${String(i).padStart(4, '0')}`, 'up 3 days\nsecond line\nthird\nfourth'),
  );
  nodes[4321] = { node: 'n4321', state: 'completed', exitCode: 2, output: '', stderr: 'disk full' };
  nodes[17] = { node: 'n0017', state: 'expired' };
  const lines = nodeLines(nodes, { linesPerNode: 3, maxLines: 12 });
  assert.equal(lines.length, 13, lines.join('\n'));
  assert.equal(lines[0], 'n4321: [completed, exit 2] disk full');
  assert.equal(lines[1], 'n0017: [expired]');
  assert.equal(lines.at(-1), '… and 4988 more nodes');
});

test('a few nodes show a few lines each, then how many more', () => {
  const lines = nodeLines([ok('a', '1\n2\n3\n4\n5'), ok('b', '')], {
    linesPerNode: 3,
    maxLines: 12,
  });
  assert.deepEqual(lines, ['a: 1', 'a: 2', 'a: 3 (+2 more lines)', 'b: (no output)']);
});

test('the summary says how the job ended and where its whole output is', () => {
  const nodes = [ok('a', 'x'), { node: 'b', state: 'did-not-answer' } as JobNodeView];
  const job: JobView = {
    id: '0190c1a2-0000-7000-8000-000000000001',
    state: 'completed',
    args: ['uptime'],
    target: {},
    options: {},
    submittedBy: 'U',
    createdAt: 1000,
    finishedAt: 3500,
    counts: countNodeViews(nodes),
    nodes,
  };
  assert.equal(
    jobSummary(job, 'https://dash.example/jobs/{id}'),
    'job 0190c1a2-0000-7000-8000-000000000001 completed: 1 succeeded, 1 no answer of 2 in 2.5 s; full output: admiral jobs show 0190c1a2-0000-7000-8000-000000000001 or https://dash.example/jobs/0190c1a2-0000-7000-8000-000000000001',
  );
});

test('a long list of names is cut with how many more', () => {
  const names = Array.from({ length: 1000 }, (_, i) => `node-${i}`);
  const line = nameList(names, 60);
  assert.ok(line.length < 80, line);
  assert.match(line, /^node-0, node-1, .* … and \d+ more$/);
});
