import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '../../src/store/db.js';
import { StoreMigrationError } from '../../src/store/errors.js';
import type { Migration } from '../../src/store/migrate.js';
import { MIGRATIONS } from '../../src/store/schema.js';
import { openStore } from '../../src/store/store.js';
import { tempDataDir } from './helpers.js';

test('opening the store creates admiral.db in WAL mode with foreign keys and busy timeout', (t) => {
  const dir = tempDataDir(t);
  const store = openStore({ dataDir: dir });
  t.after(() => store.close());
  const { db } = store.database;
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(db.pragma('synchronous', { simple: true }), 1, 'NORMAL');
  assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
  assert.equal(db.pragma('busy_timeout', { simple: true }), 5000);
  assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  assert.ok(existsSync(join(dir, 'admiral.db')));
  assert.equal(statSync(join(dir, 'admiral.db')).mode & 0o777, 0o600);
});

test('synchronous full is applied when asked for', (t) => {
  const dir = tempDataDir(t);
  const store = openStore({ dataDir: dir, synchronous: 'full' });
  t.after(() => store.close());
  assert.equal(store.database.db.pragma('synchronous', { simple: true }), 2, 'FULL');
});

test('migrations run once: reopening applies nothing and keeps the data', (t) => {
  const dir = tempDataDir(t);
  const first = openStore({ dataDir: dir });
  assert.equal(first.database.migration.from, 0);
  assert.equal(first.database.migration.applied.length, MIGRATIONS.length);
  first.outbox.enqueue({
    id: 'm1',
    kind: 'request',
    toNode: 'ship1',
    method: 'REQPing',
    envelope: Buffer.from('x'),
    expiresAt: Date.now() + 60_000,
    ackTimeoutMs: 1000,
    maxRetries: 1,
  });
  first.close();
  first.close();
  const second = openStore({ dataDir: dir });
  t.after(() => second.close());
  assert.deepEqual(second.database.migration.applied, []);
  assert.equal(second.database.migration.from, MIGRATIONS.length);
  assert.equal(second.outbox.get('m1')?.method, 'REQPing');
});

test('a migration added later is applied on the next open, and only it', (t) => {
  const dir = tempDataDir(t);
  openDatabase({ dataDir: dir, migrations: MIGRATIONS }).close();
  const extra: Migration = {
    version: MIGRATIONS.length + 1,
    name: 'example: create table',
    up: (db) => db.exec('CREATE TABLE example_later (id TEXT PRIMARY KEY) STRICT'),
  };
  const db = openDatabase({ dataDir: dir, migrations: [...MIGRATIONS, extra] });
  t.after(() => db.close());
  assert.deepEqual(db.migration.applied, ['example: create table']);
  assert.equal(db.db.pragma('user_version', { simple: true }), MIGRATIONS.length + 1);
});

test('a failing migration rolls back whole and leaves the version where it was', (t) => {
  const dir = tempDataDir(t);
  const bad: Migration = {
    version: 1,
    name: 'half done',
    up: (db) => {
      db.exec('CREATE TABLE a (x INTEGER)');
      db.exec('CREATE TABLE a (x INTEGER)');
    },
  };
  assert.throws(
    () => openDatabase({ dataDir: dir, migrations: [bad] }),
    (err: unknown) =>
      err instanceof StoreMigrationError &&
      err.code === 'ADMIRAL_STORE_MIGRATION' &&
      err.version === 1 &&
      /half done/.test(err.message),
  );
  const db = openDatabase({ dataDir: dir });
  t.after(() => db.close());
  assert.equal(db.db.pragma('user_version', { simple: true }), 0);
  assert.deepEqual(db.db.prepare("SELECT name FROM sqlite_master WHERE name = 'a'").all(), []);
});

test('a database from a newer admiral is refused rather than downgraded', (t) => {
  const dir = tempDataDir(t);
  const db = openDatabase({ dataDir: dir });
  db.db.pragma('user_version = 99');
  db.close();
  assert.throws(
    () => openDatabase({ dataDir: dir, migrations: MIGRATIONS }),
    (err: unknown) =>
      err instanceof StoreMigrationError && /newer than this admiral/.test(err.message),
  );
});

test('migration versions must be 1..n without gaps or duplicates', (t) => {
  const dir = tempDataDir(t);
  const m = (version: number): Migration => ({ version, name: `v${version}`, up: () => {} });
  assert.throws(
    () => openDatabase({ dataDir: dir, migrations: [m(1), m(1)] }),
    StoreMigrationError,
  );
  assert.throws(() => openDatabase({ dataDir: dir, migrations: [m(2)] }), StoreMigrationError);
  for (const [i, mig] of MIGRATIONS.entries()) assert.equal(mig.version, i + 1);
});
