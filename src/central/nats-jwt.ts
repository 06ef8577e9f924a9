import { createHash, sign } from 'node:crypto';
import type { SubjectPermissions } from '../protocol/enrolment.js';
import type { Identity } from '../protocol/index.js';

// NATS JWTs (v2) as nats-server 2.9's github.com/nats-io/jwt/v2 decodes them: header
// `{"typ":"JWT","alg":"ed25519-nkey"}`, claims with `jti`, `iat` (seconds), `iss`, `sub`, `name`
// and a `nats` object whose `type` is operator, account or user; signed with the issuer's nkey
// over `header.claims`. Encoded here with node:crypto, synchronously, so enrolment can answer
// in the same turn (the @nats-io/jwt encoder is async, and tweetnacl slow: DESIGN.md).

const HEADER = Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' })).toString(
  'base64url',
);
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

export interface JwtClaims {
  readonly iat: number;
  readonly iss: string;
  readonly sub: string;
  readonly name: string;
  readonly nats: Record<string, unknown>;
}

/** Signs `claims` with `issuer`; `jti` is the claims' hash, as the Go library makes it. */
export function encodeJwt(claims: JwtClaims, issuer: Identity): string {
  if (claims.iss !== issuer.publicKey) {
    throw new Error(`JWT issuer ${claims.iss} is not the signing key ${issuer.publicKey}`);
  }
  const jti = base32(createHash('sha256').update(JSON.stringify(claims)).digest());
  const payload = Buffer.from(JSON.stringify({ jti, ...claims })).toString('base64url');
  const signed = `${HEADER}.${payload}`;
  const sig = sign(null, Buffer.from(signed), issuer.privateKey).toString('base64url');
  return `${signed}.${sig}`;
}

/** The claims of a JWT, unchecked (for what admiral itself wrote). */
export function decodeJwtClaims(token: string): JwtClaims {
  const part = token.split('.')[1];
  if (part === undefined) throw new Error('Expected a JWT of three parts');
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as JwtClaims;
}

/** No limit, as the Go library's NoLimit. */
const NO_LIMIT = -1;

/** An account with no limits and JetStream on (unlimited), as `nsc add account` + `--js-*=-1`. */
export function accountLimits(): Record<string, number | boolean> {
  return {
    subs: NO_LIMIT,
    data: NO_LIMIT,
    payload: NO_LIMIT,
    imports: NO_LIMIT,
    exports: NO_LIMIT,
    wildcards: true,
    conn: NO_LIMIT,
    leaf: NO_LIMIT,
    mem_storage: NO_LIMIT,
    disk_storage: NO_LIMIT,
    streams: NO_LIMIT,
    consumer: NO_LIMIT,
  };
}

/**
 * A user's `nats` claims for `permissions` (the same SubjectPermissions `keys nats-user` prints
 * for nats-server's `authorization` block): `pub`/`sub` allow lists and `resp`, whose `ttl` is a
 * Go duration in nanoseconds. Undefined permissions: everything (central's own user).
 */
export function userNats(
  account: string,
  permissions: SubjectPermissions | undefined,
  extra: { bearer?: boolean } = {},
): Record<string, unknown> {
  return {
    ...(permissions && {
      pub: { allow: [...permissions.publish.allow] },
      sub: { allow: [...permissions.subscribe.allow] },
      ...(permissions.allowResponses && {
        resp: {
          max: permissions.allowResponses.max,
          ttl: permissions.allowResponses.expires * 1_000_000,
        },
      }),
    }),
    subs: NO_LIMIT,
    data: NO_LIMIT,
    payload: NO_LIMIT,
    ...(extra.bearer === true && { bearer_token: true }),
    issuer_account: account,
    type: 'user',
    version: 2,
  };
}
