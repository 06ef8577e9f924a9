import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  checkFreshness,
  FileTrustStore,
  generateIdentity,
  InvalidKeyError,
  MemoryTrustStore,
  MessageExpiredError,
  MessageFromFutureError,
  TrustStoreError,
} from '../../src/protocol/index.js';

describe('trust store', () => {
  test('keys are added, listed, checked and removed', () => {
    const store = new MemoryTrustStore();
    const a = generateIdentity().publicKey;
    store.add(a, 'central');
    assert.equal(store.has(a), true);
    assert.deepEqual(
      store.list().map((k) => [k.publicKey, k.label]),
      [[a, 'central']],
    );
    assert.equal(store.remove(a), true);
    assert.equal(store.remove(a), false);
    assert.equal(store.has(a), false);
  });

  test('anything but an nkey public key is refused', () => {
    const store = new MemoryTrustStore();
    const seed = generateIdentity().seed;
    for (const bad of ['', 'hello', seed, `U${'A'.repeat(55)}`]) {
      assert.throws(() => store.add(bad), InvalidKeyError, bad);
    }
  });

  test('the file-backed store persists across instances with mode 0600', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'admiral-trust-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'trust.json');
    const key = generateIdentity().publicKey;
    new FileTrustStore(path).add(key, 'ship1');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(new FileTrustStore(path).has(key), true);
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).version, 1);
    writeFileSync(path, '{"version":1,"keys":[{"publicKey":"nope","addedAt":1}]}');
    assert.throws(() => new FileTrustStore(path), TrustStoreError);
  });
});

describe('replay protection', () => {
  const msg = {
    id: '018f3b2e-1d2c-7abc-8def-0123456789ab',
    createdAt: 1_000_000,
    expiresAt: 2_000_000,
  };

  test('a message within its lifetime is fresh', () => {
    checkFreshness(msg, { now: 1_500_000 });
  });

  test('an expired message is rejected', () => {
    assert.throws(() => checkFreshness(msg, { now: 2_000_000 }), MessageExpiredError);
  });

  test('a message from further in the future than the clock skew allows is rejected', () => {
    checkFreshness(msg, { now: 1_000_000 - 60_000, maxClockSkewMs: 60_000 });
    assert.throws(
      () => checkFreshness(msg, { now: 1_000_000 - 60_001, maxClockSkewMs: 60_000 }),
      MessageFromFutureError,
    );
  });
});
