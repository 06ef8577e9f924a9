import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { test } from 'node:test';
import type { InboxStore } from '../../src/store/inbox.js';
import { openStore } from '../../src/store/store.js';
import { fakeClock, tempDataDir } from './helpers.js';

function setup(t: TestContext, dir = tempDataDir(t)) {
  const clock = fakeClock();
  const store = openStore({ dataDir: dir, now: clock.now });
  t.after(() => store.close());
  return { store, clock, dir };
}

function rec(id: string, over: Partial<InboxStore> = {}): InboxStore {
  return {
    id,
    fromNode: 'central',
    method: 'REQCliCommand',
    envelope: Buffer.from(`envelope-${id}`),
    expiresAt: 1_700_000_000_000 + 60_000,
    ...over,
  };
}

test('storeOnce stores a new id and reports every later copy as a duplicate', (t) => {
  const { store } = setup(t);
  assert.equal(store.inbox.storeOnce(rec('a')), 'stored');
  assert.equal(store.inbox.storeOnce(rec('a')), 'duplicate');
  assert.equal(store.inbox.storeOnce(rec('a', { method: 'REQPing' })), 'duplicate');
  const r = store.inbox.get('a');
  assert.equal(r?.state, 'stored');
  assert.equal(r?.method, 'REQCliCommand');
  assert.equal(r?.envelope.toString(), 'envelope-a');
});

test('a duplicate arriving after the message ran is still a duplicate', (t) => {
  const { store } = setup(t);
  store.inbox.storeOnce(rec('a'));
  assert.equal(store.inbox.markRunning('a'), true);
  assert.equal(store.inbox.markDone('a', { exitCode: 0 }), true);
  assert.equal(store.inbox.storeOnce(rec('a')), 'duplicate');
  assert.equal(store.inbox.get('a')?.state, 'done');
  assert.deepEqual(store.inbox.get('a')?.result, { exitCode: 0 });
});

test('markRunning claims a message once; a finished message keeps its first terminal state', (t) => {
  const { store } = setup(t);
  store.inbox.storeOnce(rec('a'));
  assert.equal(store.inbox.markRunning('a'), true);
  assert.equal(store.inbox.markRunning('a'), false);
  assert.equal(store.inbox.markDone('a', 'first'), true);
  assert.equal(store.inbox.markDone('a', 'second'), false);
  assert.equal(store.inbox.finish('a', 'cancelled'), false);
  assert.equal(store.inbox.markRunning('a'), false);
  assert.equal(store.inbox.get('a')?.result, 'first');
});

test('claimRunnable moves stored, unexpired messages to running, oldest first', (t) => {
  const { store, clock } = setup(t);
  const t0 = clock.now();
  store.inbox.storeOnce(rec('b', { receivedAt: t0 + 2 }));
  store.inbox.storeOnce(rec('a', { receivedAt: t0 + 1 }));
  store.inbox.storeOnce(rec('expired', { receivedAt: t0, expiresAt: t0 }));
  store.inbox.storeOnce(rec('c', { receivedAt: t0 + 3 }));
  store.inbox.storeOnce(rec('busy', { receivedAt: t0 }));
  store.inbox.markRunning('busy');
  const claimed = store.inbox.claimRunnable(2);
  assert.deepEqual(
    claimed.map((r) => [r.id, r.state]),
    [
      ['a', 'running'],
      ['b', 'running'],
    ],
  );
  assert.equal(store.inbox.get('a')?.state, 'running');
  assert.deepEqual(
    store.inbox.claimRunnable(10).map((r) => r.id),
    ['c'],
  );
  assert.deepEqual(store.inbox.claimRunnable(10), []);
  assert.deepEqual(store.inbox.expireStored(t0), ['expired']);
  assert.equal(store.inbox.get('expired')?.state, 'expired');
});

test('after a crash, messages left running are reported interrupted and not re-run', (t) => {
  const dir = tempDataDir(t);
  const clock = fakeClock();
  const before = openStore({ dataDir: dir, now: clock.now });
  before.inbox.storeOnce(rec('ran'));
  before.inbox.storeOnce(rec('waiting'));
  before.inbox.storeOnce(rec('idem', { method: 'REQPing' }));
  before.inbox.markRunning('ran');
  before.inbox.markRunning('idem');
  before.close(); // the process "dies" here: nothing was finished

  const after = openStore({ dataDir: dir, now: clock.now });
  t.after(() => after.close());
  assert.deepEqual(
    after.inbox.interruptRunning((method) => method === 'REQPing'),
    ['ran'],
  );
  assert.equal(after.inbox.get('ran')?.state, 'interrupted');
  assert.equal(after.inbox.get('idem')?.state, 'stored', 'an idempotent method is requeued');
  assert.deepEqual(after.inbox.interruptRunning(), [], 'interrupting twice finds nothing');
  assert.deepEqual(
    after.inbox
      .claimRunnable(10)
      .map((r) => r.id)
      .sort(),
    ['idem', 'waiting'],
  );
  assert.equal(after.inbox.markDone('ran', 'late'), false, 'interrupted is terminal');
});

test('purgeExpired keeps ids until expiry plus the margin and never purges unfinished rows', (t) => {
  const { store, clock } = setup(t);
  const t0 = clock.now();
  for (const id of ['done', 'stored', 'running']) {
    store.inbox.storeOnce(rec(id, { expiresAt: t0 + 1000 }));
  }
  store.inbox.markRunning('running');
  store.inbox.markRunning('done');
  store.inbox.markDone('done', null);
  const keep = 10 * 60_000;
  assert.equal(store.inbox.purgeExpired(t0 + 1000 + keep, keep), 0, 'margin not yet passed');
  assert.equal(store.inbox.storeOnce(rec('done')), 'duplicate');
  assert.equal(store.inbox.purgeExpired(t0 + 1001 + keep, keep), 1);
  assert.equal(store.inbox.get('done'), undefined);
  assert.equal(store.inbox.get('stored')?.state, 'stored');
  assert.equal(store.inbox.get('running')?.state, 'running');
});
