import { createPublicKey, sign, verify } from 'node:crypto';
import { canonicalJson } from './canonical.js';
import {
  InputLimitError,
  InvalidEnvelopeError,
  SignatureInvalidError,
  UntrustedSignerError,
} from './errors.js';
import { checkFreshness } from './freshness.js';
import { parseJsonText } from './limits.js';
import { isMessageId, newMessageId } from './id.js';
import { type Identity, publicKeyBytes, type TrustLookup } from './signing.js';

// A plain request to one of central's services (`adm.central.<service>`: jobs, …) that carries
// its own authorization: the client signs it with its identity, central accepts it only from a
// key it trusts. The signature covers the service, id, times and body, so a request cannot be
// replayed to another service, and not after it expires; its id names what it creates (a job).

const SIGNING_CONTEXT = 'admiral-central-request-v1\n';
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface SignedRequest<T = unknown> {
  readonly v: 1;
  readonly id: string;
  readonly service: string;
  /** Unix ms. */
  readonly createdAt: number;
  /** Unix ms; central refuses the request after it. */
  readonly expiresAt: number;
  readonly body: T;
  /** The signer's nkey public key. */
  readonly signer: string;
  /** ed25519 signature, base64url. */
  readonly sig: string;
}

function signingBytes(r: Omit<SignedRequest, 'signer' | 'sig'>): Buffer {
  return Buffer.from(
    SIGNING_CONTEXT +
      canonicalJson({
        v: r.v,
        id: r.id,
        service: r.service,
        createdAt: r.createdAt,
        expiresAt: r.expiresAt,
        body: r.body,
      }),
    'utf8',
  );
}

/** Signs a request to central's `service`; valid for `ttlMs` (default 60 s). */
export function signRequest<T>(
  service: string,
  body: T,
  identity: Identity,
  options: { id?: string; now?: number; ttlMs?: number } = {},
): SignedRequest<T> {
  const createdAt = options.now ?? Date.now();
  const unsigned = {
    v: 1 as const,
    id: options.id ?? newMessageId(createdAt),
    service,
    createdAt,
    expiresAt: createdAt + (options.ttlMs ?? 60_000),
    body,
  };
  const sig = sign(null, signingBytes(unsigned), identity.privateKey).toString('base64url');
  return { ...unsigned, signer: identity.publicKey, sig };
}

/**
 * Reads and checks a signed request: shape, service, freshness, a trusted signer and its
 * signature. Throws InputLimitError, InvalidEnvelopeError, MessageExpiredError,
 * MessageFromFutureError, UntrustedSignerError or SignatureInvalidError.
 */
export function verifyRequest(
  raw: Uint8Array | string,
  service: string,
  trust: TrustLookup,
  options: { now?: number; maxClockSkewMs?: number } = {},
): SignedRequest {
  let value: unknown;
  // Limits before JSON.parse (InputLimitError): the body is walked by canonicalJson below.
  const text = typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8');
  try {
    value = parseJsonText(text, 'request');
  } catch (err) {
    if (err instanceof InputLimitError) throw err;
    throw new InvalidEnvelopeError(['Expected a signed JSON request, got unreadable JSON'], {
      cause: err,
    });
  }
  const r = value as Partial<SignedRequest>;
  if (
    typeof r !== 'object' ||
    r === null ||
    r.v !== 1 ||
    !isMessageId(r.id) ||
    typeof r.createdAt !== 'number' ||
    typeof r.expiresAt !== 'number' ||
    typeof r.signer !== 'string' ||
    typeof r.sig !== 'string' ||
    !('body' in r)
  ) {
    throw new InvalidEnvelopeError([
      'Expected a signed request {v: 1, id, service, createdAt, expiresAt, body, signer, sig}',
    ]);
  }
  if (r.service !== service) {
    throw new InvalidEnvelopeError([
      `Expected a request for service ${JSON.stringify(service)}, got ${JSON.stringify(r.service)}`,
    ]);
  }
  const req = r as SignedRequest;
  checkFreshness(req, options);
  if (!trust.has(req.signer)) throw new UntrustedSignerError(req.id, req.signer);
  let ok = false;
  try {
    const key = createPublicKey({
      key: Buffer.concat([SPKI_ED25519_PREFIX, publicKeyBytes(req.signer)]),
      format: 'der',
      type: 'spki',
    });
    ok = verify(null, signingBytes(req), key, Buffer.from(req.sig, 'base64url'));
  } catch {
    ok = false;
  }
  if (!ok) throw new SignatureInvalidError(req.id, req.signer);
  return req;
}
