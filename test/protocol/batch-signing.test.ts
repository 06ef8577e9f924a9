import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  completeMessage,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  generateIdentity,
  type Message,
  signatureVerifier,
  signMessages,
  verifyMessage,
} from '../../src/protocol/index.js';
import { leafHash, merkleTree, rootFromProof } from '../../src/protocol/merkle.js';
import { BATCH_SIGNATURE_LEAVES } from '../../src/protocol/signing.js';

// One signature over a Merkle root for many messages (protocol/merkle.ts): each envelope must be
// accepted on its own exactly as a message signed alone is, and nothing else may be.

function messages(n: number): Message[] {
  const r = completeMessage(
    {
      toNodes: Array.from({ length: n }, (_, i) => `web${i}`),
      method: 'REQCliCommand',
      methodArgs: ['true'],
    },
    { fromNode: 'central' },
  );
  assert.ok(r.ok);
  return r.value;
}

const identity = generateIdentity();

function accepted(e: Envelope): boolean {
  try {
    verifyMessage(e);
    return true;
  } catch {
    return false;
  }
}

test('every message of a batch is accepted alone, whatever the batch size, by verifyMessage and by the verifier thread', async () => {
  for (const n of [2, 3, 5, 63, 64, 65, 130]) {
    const envs = signMessages(messages(n), identity);
    assert.equal(envs.length, n);
    const signatures = new Set(envs.map((e) => e.sig));
    assert.equal(signatures.size, Math.ceil(n / BATCH_SIGNATURE_LEAVES), `${n}: one per batch`);
    // On the wire and back, as a receiver gets it.
    const received = envs.map((e) => decodeEnvelope(encodeEnvelope(e)));
    for (const e of received) assert.ok(accepted(e), `${n}: ${e.msg.toNode}`);
    const valid = await signatureVerifier.verifyMany(received);
    assert.deepEqual(
      valid,
      received.map(() => true),
    );
  }
  const [alone] = signMessages(messages(1), identity);
  assert.equal(alone?.proof, undefined, 'a message alone is signed alone');
  assert.ok(alone && accepted(alone));
});

test('a batch-signed message changed in any way, or given another path, is refused', async () => {
  const envs = signMessages(messages(5), identity);
  const [a, b] = envs as [Envelope, Envelope];
  const proof = a.proof as string[];
  const flipped = (s: string): string => `${s[0] === 'L' ? 'R' : 'L'}${s.slice(1)}`;
  const forgeries: [string, Envelope][] = [
    ['another command', { ...a, msg: { ...a.msg, methodArgs: ['rm', '-rf', '/'] } }],
    ['another target', { ...a, msg: { ...a.msg, toNode: 'db1' } }],
    ['a later expiry', { ...a, msg: { ...a.msg, expiresAt: a.msg.expiresAt + 1 } }],
    ["another message's path", { ...a, proof: b.proof }],
    ['a step on the other side', { ...a, proof: [flipped(proof[0] as string), ...proof.slice(1)] }],
    ['a step dropped', { ...a, proof: proof.slice(1) }],
    ['a step added', { ...a, proof: [...proof, proof[0] as string] }],
    ['no path (as if signed alone)', { ...a, proof: undefined }],
    ['a message signed alone given a path', { ...signMessages([a.msg], identity)[0]!, proof }],
    ["another batch's signature", { ...a, sig: signMessages(messages(3), identity)[0]!.sig }],
    ['another signer', { ...a, signer: generateIdentity().publicKey }],
  ];
  for (const [what, forged] of forgeries) assert.equal(accepted(forged), false, what);
  const valid = await signatureVerifier.verifyMany(forgeries.map(([, e]) => e));
  assert.deepEqual(
    valid,
    forgeries.map(() => false),
  );
});

test('a path that is not made of Merkle steps is an invalid envelope, named as such', () => {
  const [a] = signMessages(messages(2), identity) as [Envelope];
  const bad: [unknown, RegExp][] = [
    [[], /non-empty array of Merkle path steps/],
    [['X' + 'A'.repeat(43)], /Merkle path step/],
    [['L' + 'A'.repeat(42)], /Merkle path step/],
    ['L' + 'A'.repeat(43), /array of Merkle path steps/],
    [Array.from({ length: 33 }, () => 'L' + 'A'.repeat(43)), /at most 32 Merkle path steps/],
  ];
  for (const [proof, error] of bad) {
    const bytes = Buffer.from(JSON.stringify({ ...a, proof }));
    assert.throws(() => decodeEnvelope(bytes), error, JSON.stringify(proof).slice(0, 40));
  }
});

test('merkleTree: every path leads to the root, and an inner node never passes for a leaf', () => {
  for (const n of [1, 2, 3, 7, 8, 9, 100]) {
    const leaves = Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`m${i}`)));
    const { root, proofs } = merkleTree(leaves);
    leaves.forEach((leaf, i) => {
      assert.ok(rootFromProof(leaf, proofs[i] as string[]).equals(root), `${n}/${i}`);
      assert.ok(
        (proofs[i] as string[]).length <= Math.ceil(Math.log2(n)),
        `${n}/${i}: ${proofs[i]?.length} steps`,
      );
    });
  }
  // The two leaves of a pair hashed as an inner node is not the leaf hash of their bytes.
  const { root } = merkleTree([leafHash(Buffer.from('a')), leafHash(Buffer.from('b'))]);
  const joined = Buffer.concat([leafHash(Buffer.from('a')), leafHash(Buffer.from('b'))]);
  assert.equal(leafHash(joined).equals(root), false);
  assert.throws(() => merkleTree([]), /at least one leaf/);
});
