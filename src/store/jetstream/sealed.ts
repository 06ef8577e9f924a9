import { sign } from 'node:crypto';
import type { Identity } from '../../protocol/index.js';
import { isValidSignatureOver } from '../../protocol/signing.js';

// Values of the centrals' shared buckets signed by the centrals' shared key (docs/security.md,
// threat model): a broker user allowed the JetStream API but without that key can write a bucket,
// and what it writes is then refused on reading instead of being taken as a central's own (a job
// to run on the fleet, an operator key, a node admitted). The signature covers the bucket and the
// key, so a value cannot be moved to another key either. Stored as `{"v": <text>, "sig": …}`.

function signingText(bucket: string, key: string, text: string): string {
  return `admiral sealed value\0${bucket}\0${key}\0${text}`;
}

/** `text` as the value of `key` in `bucket`, signed by `identity`. */
export function seal(bucket: string, key: string, text: string, identity: Identity): string {
  const bytes = Buffer.from(signingText(bucket, key, text), 'utf8');
  const sig = sign(null, bytes, identity.privateKey).toString('base64url');
  return JSON.stringify({ v: text, sig });
}

/** The text a value of `key` holds, if `signer` sealed it for that key; else undefined. */
export function unseal(
  bucket: string,
  key: string,
  raw: string,
  signer: string,
): string | undefined {
  let v: { v?: unknown; sig?: unknown };
  try {
    v = JSON.parse(raw) as typeof v;
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null || typeof v.v !== 'string' || typeof v.sig !== 'string') {
    return undefined;
  }
  const bytes = Buffer.from(signingText(bucket, key, v.v), 'utf8');
  return isValidSignatureOver(bytes, v.sig, signer) ? v.v : undefined;
}
