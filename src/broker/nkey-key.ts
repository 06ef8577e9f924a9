import { createPublicKey, type KeyObject } from 'node:crypto';

// The ed25519 key inside a public nkey's text, for node:crypto (which verifies far faster than the
// nkeys library's tweetnacl). Callers check the nkey's prefix and checksum first (fromPublic).

// SPKI DER header of a raw 32-byte ed25519 public key (RFC 8410).
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Decodes an nkey's base32 text (RFC 4648, no padding). */
function base32Decode(text: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const v = BASE32.indexOf(ch);
    if (v === -1) throw new Error(`invalid base32 character ${JSON.stringify(ch)}`);
    value = (value << 5) | v;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** The ed25519 public key of a checked public nkey: prefix byte, 32 key bytes, 2 CRC bytes. */
export function ed25519KeyOfNkey(nkey: string): KeyObject {
  return createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, base32Decode(nkey).subarray(1, 33)]),
    format: 'der',
    type: 'spki',
  });
}
