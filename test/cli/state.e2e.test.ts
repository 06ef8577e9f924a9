import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { writeBackup } from '../../src/central/backups.js';
import { openDatabase } from '../../src/store/db.js';
import { openBucket } from '../../src/store/jetstream/buckets.js';
import { KvRegistryState } from '../../src/store/jetstream/registry.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import { type ServiceEntry, ServiceStore, sqliteRegistryState } from '../../src/store/services.js';
import { runCli } from '../helpers/fleet.js';
import { startJetStream } from '../helpers/jetstream.js';
import { startNatsServer } from '../helpers/nats-server.js';

// `admiral state migrate` moves a single central's SQLite registry into JetStream, exactly.

async function centralDir(t: TestContext, entries: readonly ServiceEntry[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-state-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const database = openDatabase({ dataDir: join(dir, 'admiral-data'), migrations: MIGRATIONS });
  const store = new ServiceStore(database.db);
  for (const e of entries) store.put(e);
  database.close();
  return dir;
}

const ENTRIES: ServiceEntry[] = [
  {
    name: 'db',
    value: '{"last_write_ts":1,"last_write_ip":"10.0.0.1","host":"db1"}',
    isObject: true,
    updatedAt: 1000,
  },
  { name: 'plain name/with.odd*chars', value: 'just text', isObject: false, updatedAt: 2000 },
];

test('state migrate copies every registry entry of the SQLite database into the JetStream bucket, unchanged', async (t) => {
  const js = await startJetStream(t);
  if (!js) return;
  const dir = await centralDir(t, ENTRIES);
  const r = await runCli(
    ['--broker', js.url, 'state', 'migrate', '--bucket-prefix', 'fleet1'],
    dir,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /copied 2 registry entries into JetStream bucket fleet1_registry \(R1\)/);
  const kv = await openBucket(js.nc, 'registry', { prefix: 'fleet1' });
  assert.deepEqual(await new KvRegistryState(kv).list(), ENTRIES);
});

test('state migrate without a database, with bad replicas, or to a broker without JetStream, fails saying why and writes nothing', async (t) => {
  const js = await startJetStream(t);
  if (!js) return;
  const empty = await mkdtemp(join(tmpdir(), 'admiral-state-empty-'));
  t.after(() => rm(empty, { recursive: true, force: true }));
  const none = await runCli(['--broker', js.url, 'state', 'migrate'], empty);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no node database in .*admiral-data/);
  const dir = await centralDir(t, ENTRIES);
  const bad = await runCli(['--broker', js.url, 'state', 'migrate', '--replicas', '2'], dir);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /central\.state\.replicas/);
  const jsm = await jetstreamManager(js.nc);
  assert.deepEqual(await jsm.streams.names().next(), []);
  const plain = await startNatsServer(t);
  if (!plain) return;
  const noJs = await runCli(['--broker', plain.url, 'state', 'migrate'], dir);
  assert.equal(noJs.code, 1);
  assert.match(
    noJs.stderr,
    /cannot open KV bucket admiral_registry: the broker has no JetStream \(start nats-server with -js/,
  );
});

test("service restore puts a backup into the JetStream registry when the data dir's central keeps its state there", async (t) => {
  const js = await startJetStream(t);
  if (!js) return;
  const dir = await centralDir(t, ENTRIES);
  const dataDir = join(dir, 'admiral-data');
  const database = openDatabase({ dataDir, migrations: MIGRATIONS });
  const backup = await writeBackup(sqliteRegistryState(new ServiceStore(database.db)), dataDir);
  database.close();
  writeFileSync(join(dataDir, 'config.yaml'), 'central:\n  state:\n    backend: jetstream\n');
  const target = new KvRegistryState(await openBucket(js.nc, 'registry'));
  await target.put({ name: 'stale', value: 'gone after restore', isObject: false, updatedAt: 1 });
  const r = await runCli(['--broker', js.url, 'service', 'restore', '--backup', backup], dir);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /restored 2 entries/);
  assert.deepEqual(await target.list(), ENTRIES);
});
