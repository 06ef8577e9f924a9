import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderNodes, renderSummary } from '../../src/cli/job-output.js';
import { countNodes, EXIT_CODES, exitCodeOf, outcomeOf } from '../../src/fleet/job-view.js';
import { parseRateLimit, RateLimitSyntaxError, resolveRateLimit } from '../../src/fleet/rate.js';
import { generateIdentity } from '../../src/protocol/index.js';
import { signRequest, verifyRequest } from '../../src/protocol/signed-request.js';

test('a node counts as succeeded only when it completed with exit code 0', () => {
  assert.equal(outcomeOf({ state: 'completed', exitCode: 0 }), 'succeeded');
  assert.equal(outcomeOf({ state: 'completed', exitCode: 2 }), 'failed');
  for (const s of ['failed', 'interrupted', 'cancelled', 'rejected', 'noop'] as const) {
    assert.equal(outcomeOf({ state: s }), 'failed', s);
  }
  assert.equal(outcomeOf({ state: 'expired' }), 'no-answer');
  assert.equal(outcomeOf({ state: 'did-not-answer' }), 'no-answer');
  assert.equal(outcomeOf({ state: 'acknowledged' }), 'running');
});

test('exit codes tell all-succeeded, some failed, some did not answer, both and no node apart', () => {
  const c = (failed: number, noAnswer: number, total = 3) =>
    exitCodeOf({ total, failed, noAnswer });
  assert.deepEqual(
    [c(0, 0), c(1, 0), c(0, 1), c(1, 1), c(0, 0, 0)],
    [
      EXIT_CODES.ok,
      EXIT_CODES.someFailed,
      EXIT_CODES.someNoAnswer,
      EXIT_CODES.failedAndNoAnswer,
      EXIT_CODES.noNodes,
    ],
  );
  assert.deepEqual([0, 2, 3, 4, 5], [c(0, 0), c(1, 0), c(0, 1), c(1, 1), c(0, 0, 0)]);
});

test('counts group nodes by outcome and count the ones that ACKed', () => {
  const counts = countNodes([
    { state: 'completed', exitCode: 0, acked: true, n: 3 },
    { state: 'completed', exitCode: 1, acked: true, n: 1 },
    { state: 'expired', acked: false, n: 2 },
    { state: 'acknowledged', acked: true, n: 1 },
  ]);
  assert.deepEqual(
    [
      counts.total,
      counts.acknowledged,
      counts.finished,
      counts.succeeded,
      counts.failed,
      counts.noAnswer,
    ],
    [7, 5, 6, 3, 1, 2],
  );
});

test('the summary line gives a job time under a second in ms, longer ones in s', () => {
  const job = {
    id: '01a23761-4f79-7417-82ab-dcea2eda46ee',
    state: 'completed' as const,
    args: ['hostname'],
    target: { all: true },
    options: {},
    submittedBy: 'test',
    createdAt: 0,
    counts: countNodes([{ state: 'completed', exitCode: 0, acked: true, n: 2 }]),
    nodes: [],
  };
  const first = (ms: number): string => renderSummary(job, ms).split('\n')[0] ?? '';
  assert.equal(
    first(43.4),
    'job 01a23761-4f79-7417-82ab-dcea2eda46ee completed in 43 ms: 2 nodes, 2 succeeded, 0 failed, 0 did not answer',
  );
  assert.match(first(2_140), / completed in 2\.1 s: /);
  assert.match(renderSummary(job), /^job \S+ completed: 2 nodes/);
});

test("a node's text shows why it failed unless the exit code already says it", () => {
  const text = renderNodes([
    {
      node: 'web1',
      state: 'failed',
      exitCode: 127,
      error:
        'Expected methodArgs[0] to name an executable program, got "nosuchcmd": not found in PATH',
    },
    { node: 'web2', state: 'failed', exitCode: 3, error: 'command exited with code 3' },
  ]);
  assert.match(text, /web1: failed, exit 127\n {2}error: .*not found in PATH/);
  assert.match(text, /web2: failed, exit 3\n?$/);
});

test('rate limits are counts or percentages of the targeted nodes, rounded up', () => {
  assert.equal(resolveRateLimit(parseRateLimit('3', 'x'), 10), 3);
  assert.equal(resolveRateLimit(parseRateLimit('25%', 'x'), 10), 3);
  assert.equal(resolveRateLimit(parseRateLimit('1%', 'x'), 10), 1);
  assert.equal(resolveRateLimit(undefined, 10), 0);
  for (const bad of ['0', '-1', '1.5', '150%', 'ten', '']) {
    assert.throws(() => parseRateLimit(bad, '--max-errors'), RateLimitSyntaxError, bad);
  }
  assert.throws(
    () => parseRateLimit('x', '--max-errors'),
    /Expected `--max-errors` to be .* got "x"/,
  );
});

test('a signed request is accepted from a trusted key only, unchanged and for its service', () => {
  const id = generateIdentity();
  const req = signRequest('jobs', { op: 'list' }, id);
  const trusted = { has: (k: string) => k === id.publicKey };
  assert.deepEqual(verifyRequest(JSON.stringify(req), 'jobs', trusted).body, { op: 'list' });
  assert.throws(
    () => verifyRequest(JSON.stringify(req), 'jobs', { has: () => false }),
    /untrusted key/,
  );
  assert.throws(() => verifyRequest(JSON.stringify(req), 'other', trusted), /service "other"/);
  const tampered = { ...req, body: { op: 'cancel', id: req.id } };
  assert.throws(() => verifyRequest(JSON.stringify(tampered), 'jobs', trusted), /bad signature/);
  const old = signRequest('jobs', { op: 'list' }, id, { now: Date.now() - 120_000 });
  assert.throws(() => verifyRequest(JSON.stringify(old), 'jobs', trusted), /expired/);
});
