import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Prefix } from '@nats-io/nkeys';
// The nkeys base32+CRC codec: used only to encode and decode keys, never to sign (tweetnacl signs
// ~68/s here, node:crypto ~15,000/s; DESIGN.md "Platform facts").
import { Codec } from '@nats-io/nkeys/lib/codec.js';
import { canonicalJson } from './canonical.js';
import type { Envelope } from './envelope.js';
import { ENVELOPE_VERSION, PUBLIC_KEY_PATTERN } from './envelope.js';
import {
  InvalidKeyError,
  KeyFileError,
  SignatureInvalidError,
  UntrustedSignerError,
} from './errors.js';
import { leafHash, merkleTree, rootFromProof } from './merkle.js';
import type { Message } from './message.js';

// Every message is signed by its sender with ed25519 (DESIGN.md, "Wire contract"). Keys are nkeys:
// the public key is the nkey string (`U…` for a user key), the secret is the nkey seed (`SU…`),
// the same text `nk -gen user` prints and NATS `.nk` and `.creds` files hold. So a node's NATS
// nkey can be its signing key, and `admiral trust add` takes the same string nats-server uses.

// PKCS8 and SPKI DER prefixes of an ed25519 key (RFC 8410): prefix + 32 raw bytes.
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Domain separation: these bytes can never be mistaken for another signed thing. */
const SIGNING_CONTEXT = 'admiral-msg-v1\n';
/** What a batch signature covers: this line, then the Merkle root (merkle.ts), base64url. */
const BATCH_SIGNING_CONTEXT = 'admiral-msg-batch-v1\n';
/**
 * Most messages under one batch signature: a path of at most 6 steps (~280 bytes per envelope)
 * for one signature per 64 messages instead of one each (bench/fleet).
 */
export const BATCH_SIGNATURE_LEAVES = 64;

export const KEY_ROLES = {
  user: Prefix.User,
  server: Prefix.Server,
  account: Prefix.Account,
  operator: Prefix.Operator,
} as const;
export type KeyRole = keyof typeof KEY_ROLES;

const ROLE_BY_LETTER: Readonly<Record<string, Prefix>> = {
  U: Prefix.User,
  N: Prefix.Server,
  A: Prefix.Account,
  O: Prefix.Operator,
};

const SEED_PATTERN = /\bS[UNAO][A-Z2-7]{56}\b/;

export interface Identity {
  /** The nkey public key, e.g. `UA…`: what others put in their trust store. */
  readonly publicKey: string;
  /** The nkey seed, e.g. `SU…`: the secret. */
  readonly seed: string;
  readonly privateKey: KeyObject;
}

/** A new random identity (an nkey of the given role, `user` by default). */
export function generateIdentity(role: KeyRole = 'user'): Identity {
  return identityFromRawSeed(randomBytes(32), role);
}

/** The identity of a raw 32-byte ed25519 seed. */
export function identityFromRawSeed(raw: Uint8Array, role: KeyRole = 'user'): Identity {
  if (raw.length !== 32)
    throw new InvalidKeyError(`Expected a 32-byte seed, got ${raw.length} bytes`);
  const prefix = KEY_ROLES[role];
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519_PREFIX, raw]),
    format: 'der',
    type: 'pkcs8',
  });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const rawPublic = spki.subarray(SPKI_ED25519_PREFIX.length);
  return {
    publicKey: ascii(Codec.encode(prefix, rawPublic)),
    seed: ascii(Codec.encodeSeed(prefix, raw)),
    privateKey,
  };
}

/**
 * The identity of an nkey seed (`SU…`, as NATS seed files hold it). Text around the seed is
 * ignored, so a NATS `.creds` file works too.
 */
export function identityFromSeed(text: string | Uint8Array): Identity {
  const s = typeof text === 'string' ? text : Buffer.from(text).toString('utf8');
  const found = SEED_PATTERN.exec(s)?.[0];
  if (found === undefined) throw new InvalidKeyError('Expected an nkey seed (S…, 58 characters)');
  let decoded: { prefix: Prefix; buf: Uint8Array };
  try {
    decoded = Codec.decodeSeed(Buffer.from(found, 'ascii'));
  } catch (error) {
    throw new InvalidKeyError('nkey seed has a bad checksum or prefix', { cause: error });
  }
  const role = (Object.keys(KEY_ROLES) as KeyRole[]).find((r) => KEY_ROLES[r] === decoded.prefix);
  if (role === undefined) throw new InvalidKeyError('nkey seed is not an ed25519 signing key');
  return identityFromRawSeed(decoded.buf, role);
}

/** Writes the seed to `path` (mode 0600, atomically), creating its folder. */
export async function saveIdentity(path: string, identity: Identity): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(tmp, `${identity.seed}\n`, { mode: 0o600 });
    await rename(tmp, path);
  } catch (error) {
    throw new KeyFileError(`cannot write key file ${path}: ${message(error)}`, path, {
      cause: error,
    });
  }
}

/** Reads an identity from a seed file (admiral's own, an `.nk` seed file or a `.creds` file). */
export async function loadIdentity(path: string): Promise<Identity> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new KeyFileError(`cannot read key file ${path}: ${message(error)}`, path, {
      cause: error,
    });
  }
  try {
    return identityFromSeed(text);
  } catch (error) {
    throw new KeyFileError(`key file ${path} holds no valid nkey seed`, path, { cause: error });
  }
}

/** Loads the identity at `path`, making and saving a new one the first time. */
export async function loadOrCreateIdentity(path: string): Promise<Identity> {
  try {
    return await loadIdentity(path);
  } catch (error) {
    if (!(error instanceof KeyFileError && isNotFound(error.cause))) throw error;
  }
  const identity = generateIdentity();
  await saveIdentity(path, identity);
  return identity;
}

export function isPublicKey(value: unknown): value is string {
  if (typeof value !== 'string' || !PUBLIC_KEY_PATTERN.test(value)) return false;
  try {
    publicKeyObject(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * The bytes a signature covers: a context line, then the canonical JSON (canonical.ts) of the whole
 * message. That includes id, fromNode, toNode/where, method, methodArgs, expiresAt and the body
 * (data and every other field), so no field can be changed without breaking the signature.
 */
export function canonicalSigningBytes(msg: Message): Uint8Array {
  return Buffer.from(canonicalSigningText(msg), 'utf8');
}

/** `canonicalSigningBytes` as text (cheap to hand to another thread). */
export function canonicalSigningText(msg: Message): string {
  return SIGNING_CONTEXT + canonicalJson(msg);
}

/** Signs `msg` and wraps it in an envelope. */
export function signMessage(msg: Message, identity: Identity): Envelope {
  const sig = sign(null, canonicalSigningBytes(msg), identity.privateKey).toString('base64url');
  return { v: ENVELOPE_VERSION, msg, sig, signer: identity.publicKey };
}

/**
 * Signs messages that go out together: alone, one signature each (`signMessage`); several, one
 * signature per BATCH_SIGNATURE_LEAVES over the Merkle root of their signing bytes, each envelope
 * carrying its path (`proof`). The receiver accepts either the same way (`envelopeSigningText`).
 */
export function signMessages(msgs: readonly Message[], identity: Identity): Envelope[] {
  const out: Envelope[] = [];
  for (let i = 0; i < msgs.length; i += BATCH_SIGNATURE_LEAVES) {
    const batch = msgs.slice(i, i + BATCH_SIGNATURE_LEAVES);
    if (batch.length === 1) {
      out.push(signMessage(batch[0] as Message, identity));
      continue;
    }
    const { root, proofs } = merkleTree(batch.map((m) => leafHash(canonicalSigningBytes(m))));
    const text = BATCH_SIGNING_CONTEXT + root.toString('base64url');
    const sig = sign(null, Buffer.from(text, 'utf8'), identity.privateKey).toString('base64url');
    batch.forEach((msg, k) =>
      out.push({ v: ENVELOPE_VERSION, msg, sig, signer: identity.publicKey, proof: proofs[k] }),
    );
  }
  return out;
}

/**
 * The text an envelope's `sig` must be a signature over: its message's signing text, or, with a
 * `proof`, the root the proof leads to from the message (a batch signature, `signMessages`).
 */
export function envelopeSigningText(envelope: {
  readonly msg: Message;
  readonly proof?: readonly string[] | undefined;
}): string {
  if (envelope.proof === undefined) return canonicalSigningText(envelope.msg);
  const root = rootFromProof(leafHash(canonicalSigningBytes(envelope.msg)), envelope.proof);
  return BATCH_SIGNING_CONTEXT + root.toString('base64url');
}

/** Whether `sig` is `signer`'s signature over `msg`. Never throws for bad input. */
export function isValidSignature(msg: Message, sig: string, signer: string): boolean {
  try {
    return isValidSignatureOver(canonicalSigningBytes(msg), sig, signer);
  } catch {
    return false;
  }
}

/**
 * Whether `sig` is `signer`'s signature over `bytes` (a message's `canonicalSigningBytes`).
 * Never throws for bad input.
 */
export function isValidSignatureOver(bytes: Uint8Array, sig: string, signer: string): boolean {
  try {
    const signature = Buffer.from(sig, 'base64url');
    if (signature.length !== 64) return false;
    return verify(null, bytes, publicKeyObject(signer), signature);
  } catch {
    return false;
  }
}

/** Anything that can answer whether a key is trusted (a `TrustStore`). */
export interface TrustLookup {
  has(publicKey: string): boolean;
}

/**
 * Checks an envelope: the signer must be in `trust` (when given) and the signature must match.
 * Throws `UntrustedSignerError` or `SignatureInvalidError`.
 */
export function verifyMessage(envelope: Envelope, trust?: TrustLookup): void {
  const { msg, sig, signer } = envelope;
  if (trust !== undefined && !trust.has(signer)) throw new UntrustedSignerError(msg.id, signer);
  let valid: boolean;
  try {
    valid = isValidSignatureOver(Buffer.from(envelopeSigningText(envelope), 'utf8'), sig, signer);
  } catch {
    valid = false;
  }
  if (!valid) throw new SignatureInvalidError(msg.id, signer);
}

// Decoding a key and building a KeyObject costs more than verifying: keep recent ones. Sized for
// a 10,000-node fleet: at 4,096 a job to 5,000 nodes cleared it every 4,096 replies and the
// verifier spent more time in createPublicKey than in verify (bench/fleet, --profile).
const KEY_CACHE_LIMIT = 16_384;
const keyCache = new Map<string, KeyObject>();

/** The raw 32 bytes of an nkey public key. Throws `InvalidKeyError`. */
export function publicKeyBytes(publicKey: string): Uint8Array {
  const prefix = ROLE_BY_LETTER[publicKey[0] ?? ''];
  if (prefix === undefined || !PUBLIC_KEY_PATTERN.test(publicKey)) {
    throw new InvalidKeyError(
      `Expected an nkey public key (U…, N…, A… or O…, 56 characters), got ${JSON.stringify(publicKey)}`,
    );
  }
  try {
    return Codec.decode(prefix, Buffer.from(publicKey, 'ascii'));
  } catch (error) {
    throw new InvalidKeyError(`nkey public key ${publicKey} has a bad checksum`, { cause: error });
  }
}

function publicKeyObject(publicKey: string): KeyObject {
  const cached = keyCache.get(publicKey);
  if (cached !== undefined) return cached;
  const key = createPublicKey({
    key: Buffer.concat([SPKI_ED25519_PREFIX, publicKeyBytes(publicKey)]),
    format: 'der',
    type: 'spki',
  });
  if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
  keyCache.set(publicKey, key);
  return key;
}

function ascii(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('ascii');
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
