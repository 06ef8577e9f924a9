import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { AccessKeys, globToRegExp } from '../../src/central/access-keys.js';
import {
  listBackups,
  pruneBackups,
  readBackup,
  restoreBackup,
  writeBackup,
} from '../../src/central/backups.js';
import { pythonJson } from '../../src/central/python-json.js';
import { Registry } from '../../src/central/registry.js';
import { openDatabase } from '../../src/store/db.js';
import { openBucket } from '../../src/store/jetstream/buckets.js';
import { KvRegistryState } from '../../src/store/jetstream/registry.js';
import type { RegistryState } from '../../src/store/registry-state.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import { ServiceStore, sqliteRegistryState } from '../../src/store/services.js';
import { startJetStream } from '../helpers/jetstream.js';
import { startNatsServer } from '../helpers/nats-server.js';
import { fakeClock, tempDataDir } from '../store/helpers.js';

// The registry's rules hold the same on both states: the SQLite table of a single central and the
// JetStream KV bucket that several centrals share (a real nats-server with JetStream).

type Backend = 'sqlite' | 'jetstream';
const BACKENDS: readonly Backend[] = ['sqlite', 'jetstream'];

async function openState(
  t: TestContext,
  backend: Backend,
  dir: string,
): Promise<RegistryState | undefined> {
  if (backend === 'sqlite') {
    const database = openDatabase({ dataDir: dir, migrations: MIGRATIONS });
    t.after(() => database.close());
    return sqliteRegistryState(new ServiceStore(database.db));
  }
  const js = await startJetStream(t);
  return js && new KvRegistryState(await openBucket(js.nc, 'registry'));
}

async function registry(t: TestContext, backend: Backend, now = fakeClock(1_420_068_290_000).now) {
  const dir = tempDataDir(t);
  const store = await openState(t, backend, dir);
  return store && { dir, store, registry: new Registry(store, now) };
}

const writer = { ip: '127.0.0.1' };

for (const backend of BACKENDS) {
  test(`${backend}: register stores a plain string as it is and refuses a second register of the name`, async (t) => {
    const s = await registry(t, backend);
    if (!s) return;
    const r = s.registry;
    assert.equal(await r.register('foo', 'bar', writer), 'bar');
    await assert.rejects(r.register('foo', 'bar', writer), {
      name: 'EntryExistsError',
      message: "Entry 'foo' already exists",
    });
    assert.equal(await r.get('foo'), 'bar');
  });

  test(`${backend}: a JSON object gets last_write_ts and last_write_ip first, printed as Python json.dumps does`, async (t) => {
    const s = await registry(t, backend);
    if (!s) return;
    const out = await s.registry.register('foo3', '{"key": "special data"}', writer);
    assert.equal(
      pythonJson(out),
      '{"last_write_ts": 1420068290, "last_write_ip": "127.0.0.1", "key": "special data"}',
    );
  });

  test(`${backend}: update merges a JSON object into the stored one with a fresh timestamp and address`, async (t) => {
    const clock = fakeClock(1_420_068_290_000);
    const s = await registry(t, backend, clock.now);
    if (!s) return;
    const r = s.registry;
    await r.register('foo3', '{"key": "special data"}', writer);
    clock.set(1_420_068_317_000);
    const out = await r.update('foo3', '{"new_key": "new data"}', { ip: '10.0.0.7' });
    assert.equal(
      pythonJson(out),
      '{"last_write_ts": 1420068317, "last_write_ip": "10.0.0.7", "key": "special data", "new_key": "new data"}',
    );
    assert.deepEqual(await r.get('foo3'), out);
  });

  test(`${backend}: concurrent updates of one object all land (no lost update)`, async (t) => {
    const s = await registry(t, backend);
    if (!s) return;
    const r = s.registry;
    await r.register('counter', '{}', writer);
    const keys = Array.from({ length: 20 }, (_v, i) => `k${i}`);
    await Promise.all(keys.map((k) => r.update('counter', JSON.stringify({ [k]: true }), writer)));
    const data = (await r.get('counter')) as Record<string, unknown>;
    assert.deepEqual(
      keys.filter((k) => data[k] !== true),
      [],
    );
  });

  test(`${backend}: update creates a missing entry, and a string replaces an object`, async (t) => {
    const s = await registry(t, backend);
    if (!s) return;
    const r = s.registry;
    assert.deepEqual(await r.update('n', '{"a": 1}', writer), {
      last_write_ts: 1420068290,
      last_write_ip: '127.0.0.1',
      a: 1,
    });
    assert.equal(await r.update('n', 'plain', writer), 'plain');
    assert.equal(await r.get('n'), 'plain');
  });

  test(`${backend}: replace creates or overwrites without merging`, async (t) => {
    const s = await registry(t, backend);
    if (!s) return;
    const r = s.registry;
    assert.equal(await r.replace('new_key', 'bar', writer), 'bar');
    await r.replace('o', '{"a": 1}', writer);
    assert.deepEqual(await r.replace('o', '{"b": 2}', writer), {
      last_write_ts: 1420068290,
      last_write_ip: '127.0.0.1',
      b: 2,
    });
  });

  test(`${backend}: JSON that is not an object (array, number, quoted string) stays the string given`, async (t) => {
    const s = await registry(t, backend);
    if (!s) return;
    for (const data of ['[1, 2]', '42', '"x"', 'null', '{broken']) {
      assert.equal(await s.registry.replace('k', data, writer), data);
    }
  });

  test(`${backend}: get of a missing name fails; delete never does; a deleted name registers again`, async (t) => {
    const s = await registry(t, backend);
    if (!s) return;
    const r = s.registry;
    await assert.rejects(r.get('foo_no_exist'), { message: "Entry 'foo_no_exist' not found" });
    await r.delete('foo_no_exist');
    await r.register('foo', 'bar', writer);
    await r.delete('foo');
    assert.equal(await r.has('foo'), false);
    assert.equal(await r.register('foo', 'again', writer), 'again');
  });

  test(`${backend}: list returns every entry by name with its data, whatever the name's characters`, async (t) => {
    const s = await registry(t, backend);
    if (!s) return;
    const r = s.registry;
    await r.register('b', 'x', writer);
    await r.register('a', '{"k": "v"}', writer);
    await r.register('a b/é.*>', 'odd', writer);
    assert.deepEqual(await r.list(), [
      { name: 'a', data: { last_write_ts: 1420068290, last_write_ip: '127.0.0.1', k: 'v' } },
      { name: 'a b/é.*>', data: 'odd' },
      { name: 'b', data: 'x' },
    ]);
  });

  test(`${backend}: a backup restores the registry exactly as it was, and old backups are pruned`, async (t) => {
    const clock = fakeClock(1_700_000_000_000);
    const s = await registry(t, backend, clock.now);
    if (!s) return;
    const { dir, store, registry: r } = s;
    await r.register('foo', 'bar', writer);
    await r.register('foo3', '{"key": "special data"}', writer);
    const backups = join(dir, 'backups');
    const first = await writeBackup(store, backups, 1_700_000_000_000);
    const before = await r.list();
    await r.delete('foo');
    await r.replace('other', 'x', writer);
    assert.equal(await restoreBackup(store, first), 2);
    assert.deepEqual(await r.list(), before);
    for (let i = 1; i <= 4; i++) await writeBackup(store, backups, 1_700_000_000_000 + i * 1000);
    assert.equal(listBackups(backups).length, 5);
    pruneBackups(backups, 3);
    assert.equal(listBackups(backups).length, 3);
    assert.ok(!listBackups(backups).includes(first), 'the oldest backup went first');
    assert.deepEqual(
      readdirSync(backups).filter((f) => f.endsWith('.tmp')),
      [],
    );
  });

  test(`${backend}: restore refuses a file that is not a registry backup and leaves the registry alone`, async (t) => {
    const s = await registry(t, backend);
    if (!s) return;
    const { dir, store, registry: r } = s;
    await r.register('foo', 'bar', writer);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"format": "something else"}');
    await assert.rejects(restoreBackup(store, bad), /is not a registry backup/);
    assert.throws(() => readBackup(join(dir, 'missing.json')), /cannot read backup/);
    assert.equal(await r.get('foo'), 'bar');
  });
}

test('pythonJson writes nested values and escapes non-ASCII like json.dumps', () => {
  assert.equal(
    pythonJson({ a: [1, true, null, { b: 'é' }], c: 1.5 }),
    '{"a": [1, true, null, {"b": "\\u00e9"}], "c": 1.5}',
  );
});

test('a JetStream registry refuses a key that holds no registry entry, naming the key', async (t) => {
  const js = await startJetStream(t);
  if (!js) return;
  const kv = await openBucket(js.nc, 'registry');
  await kv.put('Zm9v', '{"not": "an entry"}');
  await assert.rejects(
    new Registry(new KvRegistryState(kv)).get('foo'),
    /registry key Zm9v holds no registry entry/,
  );
});

test('opening JetStream state on a broker without JetStream fails with an error naming the bucket', async (t) => {
  const server = await startNatsServer(t);
  if (!server) return;
  const nc = await connect({ servers: server.url });
  t.after(() => nc.close());
  await assert.rejects(openBucket(nc, 'registry', { prefix: 'fleet1' }), {
    name: 'JetStreamStateError',
    code: 'ADMIRAL_JETSTREAM_STATE',
    message: /cannot open KV bucket fleet1_registry: /,
  });
});

test('access keys: matching names need the key, others are open; * matches any run', () => {
  const keys = new AccessKeys({
    services: [{ pattern: 'ossec-*', key: 's3cret' }],
    extensions: [{ module: 'ossec', key: 'k2' }],
  });
  assert.equal(keys.allowsService('foo', undefined), true);
  assert.equal(keys.allowsService('ossec-1', undefined), false);
  assert.equal(keys.allowsService('ossec-1', 'wrong'), false);
  assert.equal(keys.allowsService('ossec-1', 's3cret'), true);
  assert.equal(keys.allowsExtension('hello', undefined), true);
  assert.equal(keys.allowsExtension('ossec', 's3cret'), false);
  assert.equal(keys.allowsExtension('ossec', 'k2'), true);
  assert.throws(() => keys.checkService('ossec-x', undefined), {
    name: 'AccessDeniedError',
    message: 'access denied',
  });
  assert.equal(globToRegExp('a.b*').test('a.bcd'), true);
  assert.equal(globToRegExp('a.b*').test('axbcd'), false);
});
