import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { Inventory } from '../../src/central/inventory.js';
import { parseWhere } from '../../src/fleet/target.js';
import { InventoryStore } from '../../src/store/inventory.js';
import { openStore } from '../../src/store/store.js';

async function setup(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-inventory-'));
  const store = openStore({ dataDir: dir });
  t.after(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });
  let now = 1_000_000;
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const make = () =>
    new Inventory(new InventoryStore(store.database.db), {
      helloIntervalMs: 30_000,
      now: clock.now,
    });
  return { make, clock };
}

const hello = (node: string, facts: Record<string, unknown>, helloIntervalMs = 1000) => ({
  node,
  publicKey: `key-${node}`,
  central: false,
  version: '0.1.0',
  facts,
  helloIntervalMs,
});

test('events keep each node online or offline with its facts; hellos stopping for three intervals marks it offline', async (t) => {
  const { make, clock } = await setup(t);
  const inv = make();
  inv.observe('web1', 'hello', hello('web1', { tags: ['web'] }));
  inv.observe('db1', 'online', { node: 'db1', publicKey: 'k' });
  inv.observe('db1', 'hello', hello('db1', { tags: ['db'] }, 0));
  assert.deepEqual(
    inv.list().map((r) => [r.node, r.online, r.lastEvent]),
    [
      ['db1', true, 'hello'],
      ['web1', true, 'hello'],
    ],
  );
  clock.advance(3000);
  assert.deepEqual(inv.sweep(), [], 'three intervals is not yet more than three');
  clock.advance(1);
  assert.deepEqual(inv.sweep(), ['web1'], 'db1 announced no interval: the 30 s default applies');
  assert.equal(inv.get('web1')?.lastEvent, 'stale');
  inv.observe('web1', 'hello', hello('web1', { tags: ['web'] }));
  assert.equal(inv.get('web1')?.online, true);
  inv.observe('db1', 'offline', { node: 'db1' });
  const db1 = inv.get('db1');
  assert.equal(db1?.online, false);
  assert.deepEqual(db1?.facts, { tags: ['db'] }, 'an offline event keeps the last facts');
  assert.equal(db1?.publicKey, 'key-db1');
});

test('the inventory survives a restart of the central (written behind, read at start)', async (t) => {
  const { make } = await setup(t);
  const a = make();
  a.observe('web1', 'hello', hello('web1', { rack: 'r1' }));
  a.flush();
  const b = make();
  assert.deepEqual(b.get('web1')?.facts, { rack: 'r1' });
  assert.equal(b.get('web1')?.firstSeen, a.get('web1')?.firstSeen);
});

test('queries select by target, answer names only, and page large answers', async (t) => {
  const { make } = await setup(t);
  const inv = make();
  const big = 'x'.repeat(20_000);
  for (let i = 0; i < 60; i++) {
    inv.observe(`n${String(i).padStart(2, '0')}`, 'hello', hello(`n${i}`, { i, big }));
  }
  const some = inv.query({ target: { where: [parseWhere('i<3')] }, namesOnly: true });
  assert.deepEqual(some, { ok: true, total: 3, names: ['n00', 'n01', 'n02'] });
  const first = inv.query({});
  assert.ok(first.ok);
  assert.equal(first.total, 60);
  assert.ok(first.next !== undefined && first.next < 60, 'a page stops before 1 MiB');
  let seen = first.nodes?.length ?? 0;
  let next: number | undefined = first.next;
  while (next !== undefined) {
    const page = inv.query({ offset: next });
    assert.ok(page.ok);
    seen += page.nodes?.length ?? 0;
    next = page.next;
  }
  assert.equal(seen, 60);
  const bad = inv.query({ target: { where: [{ fact: 'i', op: '>', value: 'x' }] } });
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? '' : bad.error, /expected a number/);
});

test('an offline event from another run of a node does not mark the run that said hello offline', async (t) => {
  const { make } = await setup(t);
  const inv = make();
  inv.observe('web1', 'online', { node: 'web1', publicKey: 'k', instance: 'run-b' });
  inv.observe('web1', 'offline', { node: 'web1', publicKey: 'k', instance: 'run-a' });
  assert.equal(inv.get('web1')?.online, true, "run-a's offline speaks only for run-a");
  inv.observe('web1', 'offline', { node: 'web1', publicKey: 'k', instance: 'run-b' });
  assert.equal(inv.get('web1')?.online, false);
  inv.observe('web1', 'hello', { node: 'web1', publicKey: 'k', instance: 'run-c' });
  inv.observe('web1', 'offline', { node: 'web1', publicKey: 'k' });
  assert.equal(
    inv.get('web1')?.online,
    false,
    'an event without an instance (an older node) is taken',
  );
});
