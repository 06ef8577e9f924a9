import { createPublicKey, randomBytes, sign, verify } from 'node:crypto';
import { canonicalJson, type Identity, publicKeyBytes } from '../protocol/index.js';

// UDP discovery packets (bpbroker's discover, port 20443): a client broadcasts a request naming
// a registry entry and a random nonce; a central holding that name answers to the sender with a
// reply signed by its identity (ed25519 over a context line and the canonical JSON of the reply),
// echoing the nonce so an old reply cannot be replayed. Both are small JSON objects.

export const DISCOVERY_REQUEST = 'adm-discover';
export const DISCOVERY_REPLY = 'adm-discovered';
/** Larger packets are dropped unread. */
export const MAX_PACKET_BYTES = 1024;
const CONTEXT = 'admiral-discovery-v1\n';
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const NONCE = /^[0-9a-f]{32}$/;

export interface DiscoveryRequest {
  readonly name: string;
  readonly nonce: string;
}

export interface DiscoveryReply {
  readonly name: string;
  readonly nonce: string;
  /** The answering central's node name. */
  readonly node: string;
  readonly publicKey: string;
}

export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

function parseObject(buf: Uint8Array): Record<string, unknown> | undefined {
  if (buf.length === 0 || buf.length > MAX_PACKET_BYTES) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(buf).toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

export function encodeRequest(req: DiscoveryRequest): Buffer {
  return Buffer.from(JSON.stringify({ t: DISCOVERY_REQUEST, v: 1, ...req }));
}

/** The request in `buf`, or undefined for anything else (never throws). */
export function parseRequest(buf: Uint8Array): DiscoveryRequest | undefined {
  const o = parseObject(buf);
  if (o?.t !== DISCOVERY_REQUEST || o.v !== 1) return undefined;
  const { name, nonce } = o;
  if (typeof name !== 'string' || name.length === 0 || name.length > 256) return undefined;
  if (typeof nonce !== 'string' || !NONCE.test(nonce)) return undefined;
  return { name, nonce };
}

function signedBytes(reply: DiscoveryReply): Buffer {
  const { name, nonce, node, publicKey } = reply;
  return Buffer.from(
    CONTEXT + canonicalJson({ t: DISCOVERY_REPLY, v: 1, name, nonce, node, publicKey }),
  );
}

export function encodeReply(req: DiscoveryRequest, node: string, identity: Identity): Buffer {
  const reply: DiscoveryReply = { ...req, node, publicKey: identity.publicKey };
  const sig = sign(null, signedBytes(reply), identity.privateKey).toString('base64url');
  return Buffer.from(JSON.stringify({ t: DISCOVERY_REPLY, v: 1, ...reply, sig }));
}

/**
 * The reply in `buf` when it answers `req`, is signed by the key it names and (when `trusted`
 * is given) that key is trusted; otherwise undefined (never throws).
 */
export function parseReply(
  buf: Uint8Array,
  req: DiscoveryRequest,
  trusted?: ReadonlySet<string>,
): DiscoveryReply | undefined {
  const o = parseObject(buf);
  if (o?.t !== DISCOVERY_REPLY || o.v !== 1) return undefined;
  const { name, nonce, node, publicKey, sig } = o;
  if (name !== req.name || nonce !== req.nonce) return undefined;
  if (typeof node !== 'string' || typeof publicKey !== 'string' || typeof sig !== 'string') {
    return undefined;
  }
  if (trusted !== undefined && !trusted.has(publicKey)) return undefined;
  const reply: DiscoveryReply = { name, nonce, node, publicKey };
  try {
    const key = createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, publicKeyBytes(publicKey)]),
      format: 'der',
      type: 'spki',
    });
    return verify(null, signedBytes(reply), key, Buffer.from(sig, 'base64url')) ? reply : undefined;
  } catch {
    return undefined;
  }
}
