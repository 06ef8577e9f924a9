import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureServerPki, serverNames } from '../../src/central/pki.js';

test('the fleet CA and server certificate are made once, reused, and reissued for new names', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-pki-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const names = serverNames('0.0.0.0', 'fleet.example');
  const first = await ensureServerPki(dir, names);
  const leaf = new X509Certificate(first.certChainPem);
  const ca = new X509Certificate(first.caPem);
  assert.ok(ca.ca);
  assert.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
  assert.ok(leaf.checkHost('fleet.example'));
  assert.ok(leaf.checkIP('127.0.0.1'));
  assert.match(first.caFingerprint, /^[0-9a-f]{64}$/);

  const again = await ensureServerPki(dir, names);
  assert.equal(again.caFingerprint, first.caFingerprint);
  assert.equal(again.certChainPem, first.certChainPem, 'server certificate reused');

  const moved = await ensureServerPki(dir, serverNames('10.1.2.3'));
  assert.equal(moved.caFingerprint, first.caFingerprint, 'the CA stays');
  assert.notEqual(moved.certChainPem, first.certChainPem);
  assert.ok(new X509Certificate(moved.certChainPem).checkIP('10.1.2.3'));
});
