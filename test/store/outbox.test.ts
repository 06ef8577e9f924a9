import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import { StoreStateError } from '../../src/store/errors.js';
import type { OutboxEnqueue, OutboxTerminalState } from '../../src/store/outbox.js';
import { openStore, type Store } from '../../src/store/store.js';
import { fakeClock, tempDataDir } from './helpers.js';

function setup(t: TestContext) {
  const clock = fakeClock();
  const store = openStore({ dataDir: tempDataDir(t), now: clock.now });
  t.after(() => store.close());
  return { store, clock };
}

function msg(
  id: string,
  over: Partial<OutboxEnqueue> = {},
  base = 1_700_000_000_000,
): OutboxEnqueue {
  return {
    id,
    kind: 'request',
    toNode: 'ship1',
    method: 'REQCliCommand',
    envelope: new Uint8Array([1, 2, 3, id.length]),
    expiresAt: base + 60_000,
    ackTimeoutMs: 5000,
    maxRetries: 3,
    ...over,
  };
}

function enqueueAll(store: Store, recs: OutboxEnqueue[]): void {
  for (const r of recs) assert.equal(store.outbox.enqueue(r), 'enqueued');
}

test('an enqueued message is pending with its envelope bytes intact', (t) => {
  const { store, clock } = setup(t);
  enqueueAll(store, [msg('a')]);
  const rec = store.outbox.get('a');
  assert.ok(rec);
  assert.equal(rec.state, 'pending');
  assert.equal(rec.attempts, 0);
  assert.equal(rec.nextAttemptAt, clock.now());
  assert.deepEqual([...rec.envelope], [1, 2, 3, 1]);
  assert.equal(rec.result, null);
  assert.equal(store.outbox.get('nope'), undefined);
});

test('enqueueing the same id twice keeps the first and reports a duplicate', (t) => {
  const { store } = setup(t);
  enqueueAll(store, [msg('a')]);
  assert.equal(store.outbox.enqueue(msg('a', { method: 'REQPing' })), 'duplicate');
  assert.equal(store.outbox.get('a')?.method, 'REQCliCommand');
  assert.deepEqual(store.outbox.enqueueMany([msg('a'), msg('b'), msg('c')]), ['b', 'c']);
});

test('a malformed row fails loudly instead of being taken for a duplicate', (t) => {
  const { store } = setup(t);
  assert.throws(() => store.outbox.enqueue(msg('x', { kind: 'bogus' as 'request' })), /CHECK/);
  assert.equal(store.outbox.get('x'), undefined);
});

test('due returns pending messages whose time has come, earliest attempt first', (t) => {
  const { store, clock } = setup(t);
  const t0 = clock.now();
  enqueueAll(store, [
    msg('late', { nextAttemptAt: t0 + 300 }),
    msg('first', { nextAttemptAt: t0 + 100 }),
    msg('future', { nextAttemptAt: t0 + 10_000 }),
    msg('second-b', { nextAttemptAt: t0 + 200, createdAt: t0 + 2 }),
    msg('second-a', { nextAttemptAt: t0 + 200, createdAt: t0 + 1 }),
    msg('done', { nextAttemptAt: t0 }),
  ]);
  assert.equal(store.outbox.finish('done', 'completed'), true);
  assert.deepEqual(
    store.outbox.due(t0 + 300, 10).map((r) => r.id),
    ['first', 'second-a', 'second-b', 'late'],
  );
  assert.deepEqual(
    store.outbox.due(t0 + 300, 2).map((r) => r.id),
    ['first', 'second-a'],
  );
  assert.deepEqual(store.outbox.due(t0 + 99, 10), []);
});

test('markAttempt counts attempts and reschedules; markDelivered leaves the due list', (t) => {
  const { store, clock } = setup(t);
  const t0 = clock.now();
  enqueueAll(store, [msg('a')]);
  assert.equal(store.outbox.markAttempt('a', t0 + 5000), true);
  assert.equal(store.outbox.markAttempt('a', t0 + 15000), true);
  const rec = store.outbox.get('a');
  assert.equal(rec?.attempts, 2);
  assert.equal(rec?.nextAttemptAt, t0 + 15000);
  assert.deepEqual(store.outbox.due(t0 + 14_999, 10), []);
  clock.set(t0 + 20_000);
  assert.equal(store.outbox.markDelivered('a'), true);
  assert.equal(store.outbox.get('a')?.state, 'delivered');
  assert.equal(store.outbox.get('a')?.deliveredAt, t0 + 20_000);
  assert.equal(store.outbox.markDelivered('a'), false, 'a second ACK changes nothing');
  assert.equal(store.outbox.markAttempt('a', t0), false, 'no attempts after delivery');
  assert.deepEqual(store.outbox.due(t0 + 100_000, 10), []);
});

test('a terminal state is never overwritten: the first finish wins', (t) => {
  const { store } = setup(t);
  enqueueAll(store, [msg('a'), msg('b')]);
  store.outbox.markDelivered('a');
  assert.equal(store.outbox.finish('a', 'completed', { result: { exitCode: 0, out: 'ok' } }), true);
  const states: OutboxTerminalState[] = [
    'completed',
    'failed',
    'expired',
    'interrupted',
    'rejected',
    'noop',
    'cancelled',
  ];
  for (const s of states) assert.equal(store.outbox.finish('a', s, { error: 'late' }), false);
  assert.equal(store.outbox.markDelivered('a'), false);
  const rec = store.outbox.get('a');
  assert.equal(rec?.state, 'completed');
  assert.equal(rec?.error, null);
  assert.deepEqual(rec?.result, { exitCode: 0, out: 'ok' });
  assert.equal(store.outbox.finish('b', 'failed', { error: 'exit 2' }), true);
  assert.equal(store.outbox.get('b')?.error, 'exit 2');
  assert.equal(store.outbox.finish('missing', 'failed'), false);
  assert.throws(
    () => store.outbox.finish('b', 'pending' as OutboxTerminalState),
    (err: unknown) => err instanceof StoreStateError && err.code === 'ADMIRAL_STORE_STATE',
  );
});

test('expireDue expires only pending messages past their expiry and returns their ids', (t) => {
  const { store, clock } = setup(t);
  const t0 = clock.now();
  enqueueAll(store, [
    msg('old', { expiresAt: t0 + 1000 }),
    msg('older', { expiresAt: t0 + 500 }),
    msg('fresh', { expiresAt: t0 + 5000 }),
    msg('acked', { expiresAt: t0 + 500 }),
  ]);
  store.outbox.markDelivered('acked');
  assert.deepEqual(store.outbox.expireDue(t0 + 1000), ['older', 'old']);
  assert.deepEqual(store.outbox.expireDue(t0 + 1000), []);
  assert.equal(store.outbox.get('old')?.state, 'expired');
  assert.equal(store.outbox.get('old')?.finishedAt, t0 + 1000);
  assert.equal(store.outbox.get('fresh')?.state, 'pending');
  assert.equal(store.outbox.get('acked')?.state, 'delivered');
  assert.equal(store.outbox.finish('old', 'completed'), false);
});

test("retryNowFor makes one node's pending messages due at once", (t) => {
  const { store, clock } = setup(t);
  const t0 = clock.now();
  enqueueAll(store, [
    msg('s1a', { nextAttemptAt: t0 + 60_000 }),
    msg('s1b', { nextAttemptAt: t0 + 30_000 }),
    msg('s2', { toNode: 'ship2', nextAttemptAt: t0 + 60_000 }),
  ]);
  assert.deepEqual(store.outbox.due(t0, 10), []);
  assert.equal(store.outbox.retryNowFor('ship1'), 2);
  assert.deepEqual(
    store.outbox.due(t0, 10).map((r) => r.id),
    ['s1a', 's1b'],
  );
  assert.deepEqual(
    store.outbox.pendingFor('ship2').map((r) => r.id),
    ['s2'],
  );
});

test('list, counts and depthByTarget describe the outbox', (t) => {
  const { store, clock } = setup(t);
  const t0 = clock.now();
  enqueueAll(store, [
    msg('a', { createdAt: t0 + 1 }),
    msg('b', { createdAt: t0 + 2, toNode: 'ship2' }),
    msg('c', { createdAt: t0 + 3, toNode: 'ship2' }),
    msg('d', { createdAt: t0 + 4 }),
  ]);
  store.outbox.finish('d', 'failed', { error: 'boom' });
  store.outbox.markDelivered('c');
  assert.deepEqual(
    store.outbox.list().map((r) => r.id),
    ['d', 'c', 'b', 'a'],
  );
  assert.deepEqual(
    store.outbox.list({ state: 'pending', limit: 1 }).map((r) => r.id),
    ['b'],
  );
  const counts = store.outbox.counts();
  assert.equal(counts.pending, 2);
  assert.equal(counts.delivered, 1);
  assert.equal(counts.failed, 1);
  assert.equal(counts.completed, 0);
  assert.deepEqual(
    [...store.outbox.depthByTarget()],
    [
      ['ship1', 1],
      ['ship2', 1],
    ],
  );
});

test('enqueue throughput (printed, not asserted)', (t) => {
  const store = openStore({ dataDir: tempDataDir(t) });
  t.after(() => store.close());
  const envelope = new Uint8Array(256);
  const n = 2000;
  const mk = (prefix: string, i: number): OutboxEnqueue => ({
    id: `${prefix}-${i}`,
    kind: 'request',
    toNode: `node${i % 10}`,
    method: 'REQCliCommand',
    envelope,
    expiresAt: Date.now() + 60_000,
    ackTimeoutMs: 5000,
    maxRetries: 3,
  });
  let start = performance.now();
  for (let i = 0; i < n; i++) store.outbox.enqueue(mk('single', i));
  const single = n / ((performance.now() - start) / 1000);
  const batch = Array.from({ length: 20_000 }, (_, i) => mk('batch', i));
  start = performance.now();
  store.outbox.enqueueMany(batch);
  const batched = batch.length / ((performance.now() - start) / 1000);
  t.diagnostic(
    `enqueue: ${Math.round(single)}/s one commit each (synchronous=NORMAL), ` +
      `${Math.round(batched)}/s in one transaction (enqueueMany)`,
  );
  assert.equal(store.outbox.counts().pending, n + batch.length);
});

test('expireUnanswered ends delivered requests past answer_by, and nothing else', (t) => {
  const { store, clock } = setup(t);
  const t0 = clock.now();
  enqueueAll(store, [
    msg('late', { answerBy: t0 + 1000 }),
    msg('later', { answerBy: t0 + 2000 }),
    msg('answered', { answerBy: t0 + 1000 }),
    msg('still-pending', { answerBy: t0 + 1000 }),
    msg('no-deadline'),
    msg('reply', { kind: 'reply' }),
  ]);
  for (const id of ['late', 'later', 'answered', 'no-deadline', 'reply'])
    store.outbox.markDelivered(id);
  assert.equal(store.outbox.finish('answered', 'completed'), true);
  const changed: string[] = [];
  store.outbox.onChange((id) => changed.push(id));

  assert.deepEqual(store.outbox.expireUnanswered(t0 + 999), []);
  const ended = store.outbox.expireUnanswered(t0 + 1000);
  assert.deepEqual(
    ended.map((e) => e.id),
    ['late'],
  );
  assert.match(ended[0]!.error, /^delivered, but no result came back by \d{4}-\d\d-\d\dT/);
  assert.deepEqual(changed, ['late']);
  const late = store.outbox.get('late');
  assert.equal(late?.state, 'expired');
  assert.equal(late?.error, ended[0]!.error);
  assert.equal(late?.finishedAt, t0 + 1000);
  assert.deepEqual(
    store.outbox.expireUnanswered(t0 + 10_000).map((e) => e.id),
    ['later'],
  );
  assert.equal(store.outbox.get('answered')?.state, 'completed');
  assert.equal(store.outbox.get('still-pending')?.state, 'pending', 'pending rows expire by ttl');
  assert.equal(store.outbox.get('no-deadline')?.state, 'delivered');
  assert.equal(store.outbox.get('reply')?.state, 'delivered');
  // A result that comes after all is not recorded over the first terminal state.
  assert.equal(store.outbox.finish('late', 'completed'), false);
});

test('an ACK held by deliveredLater is written by writeDelivered, or by the finish of a result that came first, in no extra write', (t) => {
  const { store, clock } = setup(t);
  enqueueAll(store, [msg('slow'), msg('fast')]);
  const changes: string[] = [];
  store.outbox.onChange((id, state) => changes.push(`${id} ${state}`));
  const ackedAt = clock.now();
  store.outbox.deliveredLater('slow', ackedAt, ackedAt + 60_000);
  store.outbox.deliveredLater('fast', ackedAt, ackedAt + 60_000);
  assert.equal(store.outbox.get('slow')?.state, 'pending', 'not written yet');
  assert.equal(store.outbox.unwrittenDeliveredBy(ackedAt + 59_999), false);
  assert.equal(store.outbox.unwrittenDeliveredBy(ackedAt + 60_000), true);

  clock.set(ackedAt + 500);
  // The result of `fast` arrives first: its finish records the ACK time; nothing else is written.
  assert.equal(store.outbox.finish('fast', 'completed', { result: { exitCode: 0 } }), true);
  const fast = store.outbox.get('fast');
  assert.equal(fast?.state, 'completed');
  assert.equal(fast?.deliveredAt, ackedAt);
  assert.equal(fast?.finishedAt, ackedAt + 500);

  assert.equal(store.outbox.writeDelivered(), 1, 'only slow is left to write');
  const slow = store.outbox.get('slow');
  assert.equal(slow?.state, 'delivered');
  assert.equal(slow?.deliveredAt, ackedAt, 'the time of the ACK, not of the write');
  assert.deepEqual(changes, ['fast completed', 'slow delivered']);
  assert.equal(store.outbox.writeDelivered(), 0);
  assert.equal(store.outbox.unwrittenDeliveredBy(Number.MAX_SAFE_INTEGER), false);
});
