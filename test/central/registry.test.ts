import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
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
import { MIGRATIONS } from '../../src/store/schema.js';
import { ServiceStore } from '../../src/store/services.js';
import { fakeClock, tempDataDir } from '../store/helpers.js';

function registry(t: import('node:test').TestContext, now = fakeClock(1_420_068_290_000).now) {
  const dir = tempDataDir(t);
  const database = openDatabase({ dataDir: dir, migrations: MIGRATIONS });
  t.after(() => database.close());
  const store = new ServiceStore(database.db);
  return { dir, store, registry: new Registry(store, now) };
}

const writer = { ip: '127.0.0.1' };

test('register stores a plain string as it is and refuses a second register of the name', (t) => {
  const { registry: r } = registry(t);
  assert.equal(r.register('foo', 'bar', writer), 'bar');
  assert.throws(() => r.register('foo', 'bar', writer), {
    name: 'EntryExistsError',
    message: "Entry 'foo' already exists",
  });
  assert.equal(r.get('foo'), 'bar');
});

test('a JSON object gets last_write_ts and last_write_ip first, printed as Python json.dumps does', (t) => {
  const { registry: r } = registry(t);
  const out = r.register('foo3', '{"key": "special data"}', writer);
  assert.equal(
    pythonJson(out),
    '{"last_write_ts": 1420068290, "last_write_ip": "127.0.0.1", "key": "special data"}',
  );
});

test('update merges a JSON object into the stored one with a fresh timestamp and address', (t) => {
  const clock = fakeClock(1_420_068_290_000);
  const { registry: r } = registry(t, clock.now);
  r.register('foo3', '{"key": "special data"}', writer);
  clock.set(1_420_068_317_000);
  const out = r.update('foo3', '{"new_key": "new data"}', { ip: '10.0.0.7' });
  assert.equal(
    pythonJson(out),
    '{"last_write_ts": 1420068317, "last_write_ip": "10.0.0.7", "key": "special data", "new_key": "new data"}',
  );
  assert.deepEqual(r.get('foo3'), out);
});

test('update creates a missing entry, and a string replaces an object', (t) => {
  const { registry: r } = registry(t);
  assert.deepEqual(r.update('n', '{"a": 1}', writer), {
    last_write_ts: 1420068290,
    last_write_ip: '127.0.0.1',
    a: 1,
  });
  assert.equal(r.update('n', 'plain', writer), 'plain');
  assert.equal(r.get('n'), 'plain');
});

test('replace creates or overwrites without merging', (t) => {
  const { registry: r } = registry(t);
  assert.equal(r.replace('new_key', 'bar', writer), 'bar');
  r.replace('o', '{"a": 1}', writer);
  assert.deepEqual(r.replace('o', '{"b": 2}', writer), {
    last_write_ts: 1420068290,
    last_write_ip: '127.0.0.1',
    b: 2,
  });
});

test('JSON that is not an object (array, number, quoted string) stays the string given', (t) => {
  const { registry: r } = registry(t);
  for (const data of ['[1, 2]', '42', '"x"', 'null', '{broken']) {
    assert.equal(r.replace('k', data, writer), data);
  }
});

test('get of a missing name fails; delete never does', (t) => {
  const { registry: r } = registry(t);
  assert.throws(() => r.get('foo_no_exist'), { message: "Entry 'foo_no_exist' not found" });
  r.delete('foo_no_exist');
  r.register('foo', 'bar', writer);
  r.delete('foo');
  assert.equal(r.has('foo'), false);
});

test('list returns every entry by name with its data', (t) => {
  const { registry: r } = registry(t);
  r.register('b', 'x', writer);
  r.register('a', '{"k": "v"}', writer);
  assert.deepEqual(r.list(), [
    { name: 'a', data: { last_write_ts: 1420068290, last_write_ip: '127.0.0.1', k: 'v' } },
    { name: 'b', data: 'x' },
  ]);
});

test('pythonJson writes nested values and escapes non-ASCII like json.dumps', () => {
  assert.equal(
    pythonJson({ a: [1, true, null, { b: 'é' }], c: 1.5 }),
    '{"a": [1, true, null, {"b": "\\u00e9"}], "c": 1.5}',
  );
});

test('a backup restores the registry exactly as it was, and old backups are pruned', (t) => {
  const clock = fakeClock(1_700_000_000_000);
  const { dir, store, registry: r } = registry(t, clock.now);
  r.register('foo', 'bar', writer);
  r.register('foo3', '{"key": "special data"}', writer);
  const backups = join(dir, 'backups');
  const first = writeBackup(store, backups, 1_700_000_000_000);
  const before = r.list();
  r.delete('foo');
  r.replace('other', 'x', writer);
  assert.equal(restoreBackup(store, first), 2);
  assert.deepEqual(r.list(), before);
  for (let i = 1; i <= 4; i++) writeBackup(store, backups, 1_700_000_000_000 + i * 1000);
  assert.equal(listBackups(backups).length, 5);
  const removed = pruneBackups(backups, 3);
  assert.deepEqual(removed, listBackups(backups).length === 3 ? removed : []);
  assert.equal(listBackups(backups).length, 3);
  assert.ok(!listBackups(backups).includes(first), 'the oldest backup went first');
  assert.deepEqual(
    readdirSync(backups).filter((f) => f.endsWith('.tmp')),
    [],
  );
});

test('restore refuses a file that is not a registry backup and leaves the registry alone', (t) => {
  const { dir, store, registry: r } = registry(t);
  r.register('foo', 'bar', writer);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"format": "something else"}');
  assert.throws(() => restoreBackup(store, bad), /is not a registry backup/);
  assert.throws(() => readBackup(join(dir, 'missing.json')), /cannot read backup/);
  assert.equal(r.get('foo'), 'bar');
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
