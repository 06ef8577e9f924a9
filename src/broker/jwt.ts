// Decentralized JWT authentication (operator mode with a memory resolver), as nats-server 2.9's
// server/jwt.go and server/auth.go check it: the operator JWT is trusted by configuration; an
// account JWT must be issued by the operator (or one of its signing keys); a user JWT by its
// account (or one of the account's signing keys); every signature, expiry and revocation is
// checked; the user proves it holds its key by signing the connection's nonce (unless the JWT is
// a bearer token). Each account is its own subject space.

import { type KeyObject, verify } from 'node:crypto';
import { fromPublic } from '@nats-io/nkeys';
import { BrokerConfigError } from './errors.js';
import type { PermissionsInput } from './options.js';
import { ed25519KeyOfNkey } from './nkey-key.js';

const keyCache = new Map<string, KeyObject>();

/** The ed25519 key of a public nkey whose first letter is one of `kinds` (O, A, U). */
export function publicNkey(nkey: string, kinds: string): KeyObject {
  const hit = keyCache.get(nkey);
  if (hit && kinds.includes(nkey[0]!)) return hit;
  fromPublic(nkey); // checks prefix and checksum
  if (!kinds.includes(nkey[0]!)) {
    throw new Error(`expected a public nkey starting with ${kinds.split('').join(' or ')}`);
  }
  const key = ed25519KeyOfNkey(nkey);
  if (keyCache.size > 4096) keyCache.clear();
  keyCache.set(nkey, key);
  return key;
}

/** A JWT as the nats jwt library writes it, after its signature was checked. */
export interface Claims {
  jti?: string;
  iat?: number;
  iss: string;
  sub: string;
  name?: string;
  exp?: number;
  nbf?: number;
  nats?: Record<string, unknown>;
}

/** A JWT that failed a check; `message` says which. */
export class JwtError extends Error {
  override readonly name = 'JwtError';
}

/** Decodes a JWT and checks its signature by its issuer, whose key kind must be one of `kinds`. */
export function verifyJwt(token: string, issuerKinds: string, type: string): Claims {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError(`expected a JWT of three parts, got ${parts.length}`);
  let header: { typ?: string; alg?: string };
  let claims: Claims;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as typeof header;
    claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Claims;
  } catch (err) {
    throw new JwtError('expected base64url JSON header and claims', { cause: err });
  }
  if (typeof header !== 'object' || header === null || typeof claims !== 'object' || !claims) {
    throw new JwtError('expected JSON objects in the JWT');
  }
  if (header.typ?.toUpperCase() !== 'JWT') throw new JwtError(`unsupported JWT type ${header.typ}`);
  // jwt/v2 header.go Valid: `ed25519-nkey` (v2) or `ed25519` (v1), any case.
  const alg = String(header.alg).toLowerCase();
  if (alg !== 'ed25519-nkey' && alg !== 'ed25519') {
    throw new JwtError(`unsupported JWT algorithm ${header.alg}`);
  }
  if (typeof claims.iss !== 'string' || typeof claims.sub !== 'string') {
    throw new JwtError('expected `iss` and `sub` in the claims');
  }
  let key: KeyObject;
  try {
    key = publicNkey(claims.iss, issuerKinds);
  } catch (err) {
    throw new JwtError(`issuer ${claims.iss} is not a valid key: ${(err as Error).message}`);
  }
  // jwt/v2 decoder.go: a top-level `type` makes a v1 claim; otherwise `nats.version` says.
  const nats = typeof claims.nats === 'object' && claims.nats !== null ? claims.nats : {};
  const v1Type = (claims as { type?: unknown }).type;
  const version = v1Type !== undefined && v1Type !== '' ? 1 : Number(nats.version ?? 0);
  const kind = version === 1 && v1Type !== undefined ? v1Type : nats.type;
  if (version > 2) throw new JwtError(`JWT version ${version} is newer than 2`);
  // v1 signs the claims part only, v2 the header and the claims.
  const signed = version <= 1 ? parts[1]! : `${parts[0]}.${parts[1]}`;
  const sig = Buffer.from(parts[2]!, 'base64url');
  let ok = false;
  try {
    ok = sig.length === 64 && verify(null, Buffer.from(signed), key, sig);
  } catch {
    ok = false;
  }
  if (!ok) throw new JwtError(`signature does not verify with issuer ${claims.iss}`);
  if (kind !== type) throw new JwtError(`expected a ${type} JWT, got ${String(kind)}`);
  // v1 kept issuer_account at the top of the claims.
  const v1Account = (claims as { issuer_account?: unknown }).issuer_account;
  const merged =
    version <= 1 && nats.issuer_account === undefined && typeof v1Account === 'string'
      ? { ...nats, issuer_account: v1Account }
      : nats;
  return { ...claims, nats: merged };
}

/** Expiry and not-before, in seconds since the epoch, as jwt's Validate checks them. */
function checkTimes(c: Claims, nowSec: number, what: string): void {
  if (typeof c.exp === 'number' && c.exp > 0 && c.exp < nowSec) {
    throw new JwtError(`${what} JWT has expired`);
  }
  if (typeof c.nbf === 'number' && c.nbf > 0 && c.nbf > nowSec) {
    throw new JwtError(`${what} JWT is not valid yet`);
  }
}

function signingKeys(nats: Record<string, unknown>): string[] {
  const list = nats.signing_keys;
  if (!Array.isArray(list)) return [];
  return list
    .map((k) =>
      typeof k === 'string' ? k : typeof k === 'object' && k ? (k as { key?: unknown }).key : '',
    )
    .filter((k): k is string => typeof k === 'string' && k !== '');
}

function hasScopedKeys(nats: Record<string, unknown>): boolean {
  const list = nats.signing_keys;
  return Array.isArray(list) && list.some((k) => typeof k === 'object' && k !== null);
}

interface Account {
  claims: Claims;
  keys: Set<string>;
  revocations: Record<string, number>;
}

/** What a JWT user authenticated as. */
export interface JwtUser {
  /** The user's public key. */
  user: string;
  account: string;
  permissions: PermissionsInput | undefined;
  /** When the user JWT expires (ms since the epoch), if it does. */
  expiresAt: number | undefined;
  /** When the account JWT expires (ms since the epoch), if it does. */
  accountExpiresAt: number | undefined;
  /** The account's `limits.conn`: -1 unlimited; a JWT without limits admits none (nats-server). */
  maxConnections: number;
}

function expiryMs(c: Claims): number | undefined {
  return typeof c.exp === 'number' && c.exp > 0 ? c.exp * 1000 : undefined;
}

function subjectList(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.every((s) => typeof s === 'string') && v.length > 0
    ? (v as string[])
    : undefined;
}

/** The user claims' `pub`, `sub` and `resp` as broker permissions. */
function userPermissions(nats: Record<string, unknown>): PermissionsInput | undefined {
  const out: PermissionsInput = {};
  for (const [from, to] of [
    ['pub', 'publish'],
    ['sub', 'subscribe'],
  ] as const) {
    const p = nats[from] as { allow?: unknown; deny?: unknown } | undefined;
    const allow = subjectList(p?.allow);
    const deny = subjectList(p?.deny);
    if (allow || deny) out[to] = { ...(allow && { allow }), ...(deny && { deny }) };
  }
  const resp = nats.resp as { max?: unknown; ttl?: unknown } | undefined;
  if (resp && typeof resp === 'object') {
    const max = typeof resp.max === 'number' && resp.max > 0 ? resp.max : 1;
    // ttl is a Go duration in nanoseconds.
    const ttl = typeof resp.ttl === 'number' && resp.ttl > 0 ? Math.ceil(resp.ttl / 1e6) : 0;
    out.allowResponses = { max, expires: ttl };
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function accountConnLimit(nats: Record<string, unknown>): number {
  const conn = (nats.limits as { conn?: unknown } | undefined)?.conn;
  return typeof conn === 'number' ? conn : 0;
}

/** Trusted operators and the accounts of the memory resolver. */
export class JwtTrust {
  private readonly trusted = new Set<string>();
  private readonly accounts = new Map<string, string>();

  constructor(
    operators: readonly string[],
    trustedKeys: readonly string[],
    preload: Record<string, string>,
  ) {
    const now = Math.floor(Date.now() / 1000);
    operators.forEach((jwt, i) => {
      let c: Claims;
      try {
        c = verifyJwt(jwt.trim(), 'O', 'operator');
        checkTimes(c, now, 'operator');
      } catch (err) {
        throw new BrokerConfigError(
          `Expected \`operators[${i}]\` to be a valid operator JWT: ${(err as Error).message}`,
          'operators',
          { cause: err },
        );
      }
      if (c.iss !== c.sub) {
        throw new BrokerConfigError(
          `Expected operator JWT ${i} to be self-signed (iss = sub), got iss ${c.iss}`,
          'operators',
        );
      }
      this.trusted.add(c.sub);
      for (const k of signingKeys(c.nats!)) this.trusted.add(k);
    });
    for (const k of trustedKeys) {
      try {
        publicNkey(k, 'O');
      } catch (err) {
        throw new BrokerConfigError(
          `Expected \`trustedKeys\` to hold operator public keys (O...), got ${JSON.stringify(k)}`,
          'trustedKeys',
          { cause: err },
        );
      }
      this.trusted.add(k);
    }
    for (const [pub, jwt] of Object.entries(preload)) this.accounts.set(pub, jwt.trim());
  }

  private account(pub: string, nowSec: number): Account {
    const jwt = this.accounts.get(pub);
    if (jwt === undefined) throw new JwtError(`account ${pub} is not known to the resolver`);
    const c = verifyJwt(jwt, 'O', 'account');
    if (c.sub !== pub) throw new JwtError(`the resolver's JWT for ${pub} is for ${c.sub}`);
    if (!this.trusted.has(c.iss))
      throw new JwtError(`account ${pub} is issued by an untrusted key`);
    checkTimes(c, nowSec, 'account');
    const nats = c.nats!;
    const revocations = (nats.revocations ?? {}) as Record<string, number>;
    return { claims: c, keys: new Set([pub, ...signingKeys(nats)]), revocations };
  }

  /** auth.go processClientOrLeafAuthentication for a CONNECT with `jwt`; throws JwtError. */
  authenticate(token: string, sig: string | undefined, nonce: string | undefined): JwtUser {
    const nowSec = Math.floor(Date.now() / 1000);
    const u = verifyJwt(token, 'A', 'user');
    try {
      publicNkey(u.sub, 'U');
    } catch (err) {
      throw new JwtError(`user JWT subject ${u.sub} is not a user key: ${(err as Error).message}`);
    }
    checkTimes(u, nowSec, 'user');
    const nats = u.nats!;
    const issuerAccount = typeof nats.issuer_account === 'string' ? nats.issuer_account : '';
    const accountPub = issuerAccount !== '' ? issuerAccount : u.iss;
    const acc = this.account(accountPub, nowSec);
    if (!acc.keys.has(u.iss)) throw new JwtError('user JWT issuer is not known to its account');
    // Scoped signing keys replace the user's permissions with the scope's: not implemented, refused.
    if (u.iss !== accountPub && hasScopedKeys(acc.claims.nats!)) {
      throw new JwtError('scoped signing keys are not supported by the embedded broker');
    }
    const revokedAt = acc.revocations[u.sub] ?? acc.revocations['*'];
    if (typeof revokedAt === 'number' && (u.iat ?? 0) <= revokedAt) {
      throw new JwtError(`user ${u.sub} has been revoked`);
    }
    // Restrictions the broker cannot enforce fail closed rather than being ignored.
    for (const k of ['src', 'times', 'locale', 'allowed_connection_types']) {
      const v = nats[k];
      if (v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0)) {
        throw new JwtError(`user JWT restriction \`${k}\` is not supported by the embedded broker`);
      }
    }
    const limits = acc.claims.nats!.limits as { disallow_bearer?: unknown } | undefined;
    if (nats.bearer_token === true && limits?.disallow_bearer === true) {
      throw new JwtError('the account does not allow bearer tokens');
    }
    if (nats.bearer_token !== true) {
      if (sig === undefined || sig === '' || nonce === undefined) {
        throw new JwtError('expected a signature of the nonce');
      }
      const raw = /^[A-Za-z0-9_-]+$/.test(sig)
        ? Buffer.from(sig, 'base64url')
        : Buffer.from(sig, 'base64');
      let ok = false;
      try {
        ok =
          raw.length === 64 &&
          verify(null, Buffer.from(nonce, 'latin1'), publicNkey(u.sub, 'U'), raw);
      } catch {
        ok = false;
      }
      if (!ok) throw new JwtError('the nonce signature does not verify with the user key');
    }
    return {
      user: u.sub,
      account: accountPub,
      permissions: userPermissions(nats),
      expiresAt: expiryMs(u),
      accountExpiresAt: expiryMs(acc.claims),
      maxConnections: accountConnLimit(acc.claims.nats!),
    };
  }
}
