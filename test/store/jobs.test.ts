import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobStore } from '../../src/store/jobs.js';
import { openStore } from '../../src/store/store.js';
import { fakeClock, tempDataDir } from './helpers.js';

// A job's node is `acknowledged` from the moment its outbox row is delivered: the job store reads
// the ACK from that row (one join) instead of copying it into its own, and finds overdue nodes by
// it. The outbox tells its listeners which state a row moved to, so the job runner need not read
// the row again for an ACK.

const spec = {
  args: ['true'],
  target: { nodes: ['a', 'b'] },
  maxConcurrency: 0,
  maxErrors: 0,
  batchSleepMs: 0,
  methodTimeout: 10,
  ttl: 60,
  replyGrace: 5,
};

test("a sent node reads as acknowledged, with its ACK's time, once its outbox row is delivered", (t) => {
  const clock = fakeClock();
  const store = openStore({ dataDir: tempDataDir(t), now: clock.now });
  t.after(() => store.close());
  const jobs = new JobStore(store.database.db);
  jobs.create({ id: 'j1', spec, submittedBy: 'op', nodes: ['a', 'b'] });
  for (const [node, id] of [
    ['a', 'm-a'],
    ['b', 'm-b'],
  ] as const) {
    store.outbox.enqueue({
      id,
      kind: 'request',
      toNode: node,
      method: 'REQCliCommand',
      envelope: new Uint8Array([1]),
      expiresAt: clock.now() + 60_000,
      ackTimeoutMs: 5000,
      maxRetries: 3,
    });
    assert.equal(jobs.markSent('j1', node, id), true);
  }
  const moved: [string, string][] = [];
  store.outbox.onChange((id, state) => moved.push([id, state]));
  const stateOf = (node: string) => jobs.nodes('j1').find((n) => n.node === node);

  assert.equal(stateOf('a')?.state, 'sent');
  assert.equal(stateOf('a')?.ackedAt, null);
  clock.set(clock.now() + 1234);
  store.outbox.markDelivered('m-a');
  assert.deepEqual(moved, [['m-a', 'delivered']]);
  assert.equal(stateOf('a')?.state, 'acknowledged');
  assert.equal(stateOf('a')?.ackedAt, clock.now());
  assert.equal(stateOf('b')?.state, 'sent');
  assert.deepEqual(
    jobs.tally('j1').map((g) => [g.state, g.acked, g.n]),
    [
      ['acknowledged', true, 1],
      ['sent', false, 1],
    ],
  );
  assert.deepEqual(jobs.nodesPage('j1', 0, 1)[0]?.state, 'acknowledged');
  // An ACK is no settled change for the job; past its answer time the node is overdue.
  assert.deepEqual(jobs.outboxChanges('j1'), []);
  assert.deepEqual(
    jobs.overdue('j1', clock.now() - 1).map((n) => n.node),
    [],
  );
  assert.deepEqual(
    jobs.overdue('j1', clock.now()).map((n) => n.node),
    ['a'],
  );

  store.outbox.finish('m-a', 'completed', { result: { status: 'ok', exitCode: 0 } });
  assert.deepEqual(moved.at(-1), ['m-a', 'completed']);
  assert.deepEqual(
    jobs.outboxChanges('j1').map((c) => [c.node, c.outboxState]),
    [['a', 'completed']],
  );
  assert.equal(
    jobs.finishNode('j1', 'a', { state: 'completed', exitCode: 0, ackedAt: clock.now() }),
    true,
  );
  // Finished, it keeps its ACK time in its own row.
  assert.equal(stateOf('a')?.state, 'completed');
  assert.equal(stateOf('a')?.ackedAt, clock.now());
});

test('the first batch is born sent (or rejected) in the insert that creates the job; the rest wait', (t) => {
  const store = openStore({ dataDir: tempDataDir(t) });
  t.after(() => store.close());
  const jobs = new JobStore(store.database.db);
  jobs.create({
    id: 'j2',
    spec: { ...spec, maxConcurrency: 2 },
    submittedBy: 'op',
    nodes: ['a', 'b', 'c'],
    started: new Map([
      ['a', { messageId: 'm-a' }],
      ['b', { error: 'not sent: too big' }],
    ]),
  });
  const rows = jobs.nodes('j2').map((n) => [n.node, n.state, n.messageId, n.error]);
  assert.deepEqual(rows, [
    ['a', 'sent', 'm-a', null],
    ['b', 'rejected', null, 'not sent: too big'],
    ['c', 'waiting', null, null],
  ]);
  assert.ok(jobs.nodes('j2')[0]?.sentAt !== null);
  assert.ok(jobs.nodes('j2')[1]?.finishedAt !== null);
  assert.deepEqual(
    jobs.waiting('j2', 10).map((n) => n.node),
    ['c'],
  );
});
