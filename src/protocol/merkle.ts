import { createHash } from 'node:crypto';

// One signature for many messages (DESIGN.md, "Wire contract"; bench/fleet): the sender signs the
// root of a Merkle tree over the messages' signing bytes, and each envelope carries the path from
// its own leaf to that root. A receiver hashes the one message it got, walks the path and checks
// the signature over the root: what it accepts is exactly what it would accept signed alone (any
// other path to the signed root would be a SHA-256 collision). Leaves and inner nodes are hashed
// with different first bytes (RFC 6962), so an inner node can never pass for a message.

const LEAF = Buffer.from([0]);
const INNER = Buffer.from([1]);

/** One step of a path: the sibling's side (L: it is on the left) and its hash, base64url. */
export const PROOF_STEP_PATTERN = /^[LR][A-Za-z0-9_-]{43}$/;
/** Steps in a path: enough for 2^32 leaves. */
export const MAX_PROOF_STEPS = 32;

export function leafHash(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(LEAF).update(bytes).digest();
}

function innerHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(INNER).update(left).update(right).digest();
}

/**
 * The root over `leaves` (at least one) and each leaf's path to it. A node without a sibling on
 * its level is carried up unchanged (no step).
 */
export function merkleTree(leaves: readonly Buffer[]): { root: Buffer; proofs: string[][] } {
  if (leaves.length === 0) throw new RangeError('a Merkle tree needs at least one leaf');
  const levels: Buffer[][] = [[...leaves]];
  for (let level = levels[0] as Buffer[]; level.length > 1;) {
    const up: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const right = level[i + 1];
      up.push(right === undefined ? (level[i] as Buffer) : innerHash(level[i] as Buffer, right));
    }
    levels.push(up);
    level = up;
  }
  const proofs = leaves.map((_, leaf) => {
    const steps: string[] = [];
    let i = leaf;
    for (const level of levels.slice(0, -1)) {
      const sibling = level[i ^ 1];
      if (sibling !== undefined) {
        steps.push(`${i % 2 === 0 ? 'R' : 'L'}${sibling.toString('base64url')}`);
      }
      i >>= 1;
    }
    return steps;
  });
  return { root: levels[levels.length - 1]?.[0] as Buffer, proofs };
}

/** The root that `proof` leads to from `leaf` (steps as `merkleTree` writes them). */
export function rootFromProof(leaf: Buffer, proof: readonly string[]): Buffer {
  let hash = leaf;
  for (const step of proof) {
    const sibling = Buffer.from(step.slice(1), 'base64url');
    hash = step[0] === 'L' ? innerHash(sibling, hash) : innerHash(hash, sibling);
  }
  return hash;
}
