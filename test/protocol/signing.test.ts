import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { createUser, fromPublic } from '@nats-io/nkeys';
import {
  canonicalSigningBytes,
  completeMessage,
  decodeEnvelope,
  encodeEnvelope,
  generateIdentity,
  InvalidEnvelopeError,
  identityFromRawSeed,
  identityFromSeed,
  isValidSignature,
  loadIdentity,
  loadOrCreateIdentity,
  type Message,
  parseMessageInput,
  SignatureInvalidError,
  saveIdentity,
  signMessage,
  UntrustedSignerError,
  verifyMessage,
} from '../../src/protocol/index.js';
import { MemoryTrustStore } from '../../src/protocol/trust.js';

function sample(): Message {
  const input = parseMessageInput({
    toNode: 'ship1',
    method: 'REQCliCommand',
    methodArgs: ['bash', '-c', 'uptime'],
    data: ['payload'],
    directory: 'out',
    fileName: 'uptime.log',
  });
  assert.ok(input.ok);
  const r = completeMessage(input.value, { fromNode: 'central', now: 1_700_000_000_000 });
  assert.ok(r.ok);
  return r.value[0]!;
}

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'admiral-protocol-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('signing', () => {
  test('a signed message verifies and survives encoding and compression', () => {
    const id = generateIdentity();
    const env = signMessage(sample(), id);
    verifyMessage(env);
    for (const c of ['none', 'gzip', 'zstd'] as const) {
      const back = decodeEnvelope(encodeEnvelope(env, c));
      assert.deepEqual(back, env);
      verifyMessage(back);
    }
  });

  test('canonical signing bytes do not depend on key order', () => {
    const m = sample();
    const reversed = Object.fromEntries(Object.entries(m).reverse()) as Message;
    assert.deepEqual(canonicalSigningBytes(reversed), canonicalSigningBytes(m));
  });

  test('tampering with any covered field breaks verification', () => {
    const id = generateIdentity();
    const m = sample();
    const env = signMessage(m, id);
    const tampered: Partial<Message>[] = [
      { id: '018f3b2e-1d2c-7abc-8def-0123456789ab' },
      { fromNode: 'mallory' },
      { toNode: 'ship2' },
      { method: 'REQHttpGet' },
      { methodArgs: ['bash', '-c', 'rm -rf /'] },
      { expiresAt: m.expiresAt + 1 },
      { createdAt: m.createdAt + 1 },
      { data: ['other payload'] },
      { directory: '/etc' },
      { replyMethod: 'REQToFile' },
    ];
    for (const change of tampered) {
      const msg = { ...m, ...change };
      assert.throws(
        () => verifyMessage({ ...env, msg }),
        SignatureInvalidError,
        JSON.stringify(change),
      );
    }
  });

  test('a signature by another key or a mangled signature is rejected', () => {
    const env = signMessage(sample(), generateIdentity());
    const other = generateIdentity();
    assert.equal(isValidSignature(env.msg, env.sig, other.publicKey), false);
    const flipped = `${env.sig[0] === 'A' ? 'B' : 'A'}${env.sig.slice(1)}`;
    assert.equal(isValidSignature(env.msg, flipped, env.signer), false);
    assert.equal(isValidSignature(env.msg, 'short', env.signer), false);
  });

  test('only trusted signers pass when a trust store is given', () => {
    const id = generateIdentity();
    const trust = new MemoryTrustStore();
    const env = signMessage(sample(), id);
    assert.throws(() => verifyMessage(env, trust), UntrustedSignerError);
    trust.add(id.publicKey, 'central');
    verifyMessage(env, trust);
  });

  test("an imported NATS nkey seed signs what @nats-io/nkeys' verify accepts", () => {
    const kp = createUser();
    const seed = new TextDecoder().decode(kp.getSeed());
    const id = identityFromSeed(seed);
    assert.equal(id.publicKey, kp.getPublicKey());
    const m = sample();
    const env = signMessage(m, id);
    const verifier = fromPublic(kp.getPublicKey());
    assert.equal(
      verifier.verify(canonicalSigningBytes(m), Buffer.from(env.sig, 'base64url')),
      true,
    );
    // and the other way round: nkeys' own signature verifies here
    const theirs = Buffer.from(kp.sign(canonicalSigningBytes(m))).toString('base64url');
    assert.equal(isValidSignature(m, theirs, kp.getPublicKey()), true);
  });

  test('a raw 32-byte seed gives the same key as its nkey encoding', () => {
    const raw = new Uint8Array(32).fill(7);
    const a = identityFromRawSeed(raw);
    assert.equal(identityFromSeed(a.seed).publicKey, a.publicKey);
    assert.match(a.publicKey, /^U[A-Z2-7]{55}$/);
    assert.match(a.seed, /^SU[A-Z2-7]{56}$/);
  });

  test('an identity is saved with mode 0600 and loads back; a .creds-style file works too', async (t) => {
    const dir = tmp(t);
    const path = join(dir, 'keys', 'node.nk');
    const id = await loadOrCreateIdentity(path);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal((await loadOrCreateIdentity(path)).publicKey, id.publicKey);
    const creds = join(dir, 'user.creds');
    await saveIdentity(creds, id);
    const wrapped = `-----BEGIN USER NKEY SEED-----\n${readFileSync(creds, 'utf8')}------END USER NKEY SEED------\n`;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(creds, wrapped);
    assert.equal((await loadIdentity(creds)).publicKey, id.publicKey);
  });

  test('a decoded envelope with a bad signature field or version is rejected', () => {
    const env = signMessage(sample(), generateIdentity());
    const bad = Buffer.from(JSON.stringify({ ...env, v: 2, sig: 'x' }));
    assert.throws(
      () => decodeEnvelope(bad),
      (e: unknown) =>
        e instanceof InvalidEnvelopeError &&
        e.issues.some((i) => i.startsWith('Expected `v` to be envelope version 1, got `2`')) &&
        e.issues.some((i) => i.startsWith('Expected `sig`')),
    );
  });
});
