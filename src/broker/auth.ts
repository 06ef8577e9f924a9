// Client authentication as nats-server's server/auth.go (processClientOrLeafAuthentication):
// nkey users (signed nonce), users with passwords, a single user, or a token.

import { createHash, type KeyObject, randomBytes, timingSafeEqual, verify } from 'node:crypto';
import { fromPublic } from '@nats-io/nkeys';
import { BrokerConfigError } from './errors.js';
import type { BrokerOptions, Permissions } from './options.js';
import { JwtError, JwtTrust } from './jwt.js';
import { ClientPermissions, PermissionSet } from './permissions.js';
import { ed25519KeyOfNkey } from './nkey-key.js';

/** The CONNECT fields that authentication reads. */
export interface ConnectCredentials {
  auth_token?: string;
  user?: string;
  pass?: string;
  nkey?: string;
  sig?: string;
  jwt?: string;
}

/** Who a connection authenticated as, and what it may do. */
export interface AuthResult {
  /** User name or nkey; '' for token or no auth. */
  readonly user: string;
  readonly permissions: ClientPermissions | null;
  /** The account (operator mode); '' for the one global account. */
  readonly account?: string;
  /** When the credentials expire (ms since the epoch), if they do. */
  readonly expiresAt?: number;
  /** When the account expires (ms since the epoch), if it does (operator mode). */
  readonly accountExpiresAt?: number;
  /** Most connections of the account at once; -1 unlimited (operator mode). */
  readonly accountMaxConnections?: number;
}

interface PasswordUser {
  password: string;
  permissions: PermissionSet | null;
}

interface NkeyUser {
  key: KeyObject;
  permissions: PermissionSet | null;
}

/** Raw ed25519 public key of a user nkey (`U...`): prefix byte, 32 key bytes, 2 CRC bytes. */
export function nkeyToPublicKey(nkey: string): KeyObject {
  fromPublic(nkey); // validates prefix and checksum, throws NKeysError otherwise
  if (!nkey.startsWith('U')) throw new Error('not a user nkey (expected a key starting with U)');
  return ed25519KeyOfNkey(nkey);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time string comparison (auth.go comparePasswords). */
function sameSecret(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  return timingSafeEqual(digest(expected), digest(given));
}

function checkPassword(password: string | undefined, where: string): void {
  // nats-server accepts bcrypt hashes ("$2a$..."); node has no bcrypt, so refuse them loudly.
  if (password?.startsWith('$2')) {
    throw new BrokerConfigError(
      `Expected \`${where}\` to be a plain password, got a bcrypt hash, which the embedded broker does not support`,
      where,
    );
  }
}

export class Authenticator {
  /** CONNECT deadline in ms when auth is required. */
  readonly timeoutMs: number;
  private readonly token: string | undefined;
  private readonly singleUser: { user: string; password: string } | undefined;
  private readonly users = new Map<string, PasswordUser>();
  private readonly nkeys = new Map<string, NkeyUser>();
  private readonly trust: JwtTrust | null;
  /** Why the last JWT authentication failed, for the log. */
  lastJwtError = '';

  constructor(options: BrokerOptions) {
    const a = options.authorization;
    const operatorMode = options.operators.length > 0 || options.trustedKeys.length > 0;
    if (operatorMode && a !== undefined && (a.users?.length || a.user || a.token)) {
      // opts.go validateTrustedOperators: nats-server's own rule.
      throw new BrokerConfigError(
        'operators do not allow authorization users, a user or a token: users come from JWTs',
        'authorization',
      );
    }
    this.trust = operatorMode
      ? new JwtTrust(options.operators, options.trustedKeys, options.resolverPreload)
      : null;
    this.timeoutMs = Math.round((a?.timeout ?? 2) * 1000);
    this.token = a?.token;
    const users = a?.users ?? [];
    if (a?.user !== undefined) {
      checkPassword(a.password, 'authorization.password');
      this.singleUser = { user: a.user, password: a.password ?? '' };
    }
    if (a?.token !== undefined && (a.user !== undefined || users.length > 0)) {
      throw new BrokerConfigError(
        'Expected either `authorization.token` or users, got both (nats-server refuses this too)',
        'authorization.token',
      );
    }
    if (a?.user !== undefined && users.length > 0) {
      throw new BrokerConfigError(
        'Expected either `authorization.user` or `authorization.users`, got both',
        'authorization.users',
      );
    }
    const defaults = a?.defaultPermissions
      ? new PermissionSet(a.defaultPermissions, 'authorization.defaultPermissions')
      : null;
    users.forEach((u, i) => {
      const where = `authorization.users[${i}]`;
      const perms = u.permissions
        ? new PermissionSet(u.permissions, `${where}.permissions`)
        : defaults;
      if (u.nkey !== undefined) {
        let key: KeyObject;
        try {
          key = nkeyToPublicKey(u.nkey);
        } catch (err) {
          throw new BrokerConfigError(
            `Expected \`${where}.nkey\` to be a user public nkey (U...), got ${JSON.stringify(u.nkey)}`,
            `${where}.nkey`,
            { cause: err },
          );
        }
        this.nkeys.set(u.nkey, { key, permissions: perms });
      } else if (u.user !== undefined) {
        checkPassword(u.password, `${where}.password`);
        if (this.users.has(u.user)) {
          throw new BrokerConfigError(
            `Duplicate user ${JSON.stringify(u.user)} in \`authorization.users\``,
            where,
          );
        }
        this.users.set(u.user, { password: u.password ?? '', permissions: perms });
      }
    });
  }

  /** Whether clients must authenticate (INFO auth_required, CONNECT first). */
  get required(): boolean {
    return (
      this.token !== undefined ||
      this.singleUser !== undefined ||
      this.users.size > 0 ||
      this.usesNonce
    );
  }

  /** Whether users authenticate with JWTs (operator mode). */
  get operatorMode(): boolean {
    return this.trust !== null;
  }

  /** Whether nkey users exist, so each connection gets a nonce. */
  get usesNonce(): boolean {
    return this.nkeys.size > 0 || this.trust !== null;
  }

  /**
   * Adds (or replaces) an nkey user while the broker runs; its next CONNECT is checked against it.
   * Throws BrokerConfigError for a key that is not a user public nkey.
   */
  addNkeyUser(nkey: string, permissions: Permissions | undefined): void {
    if (this.token !== undefined || this.singleUser !== undefined) {
      throw new BrokerConfigError(
        'Expected a broker configured with users (or none) to add an nkey user, got token or single-user authorization',
        'authorization',
      );
    }
    let key: KeyObject;
    try {
      key = nkeyToPublicKey(nkey);
    } catch (err) {
      throw new BrokerConfigError(
        `Expected a user public nkey (U...), got ${JSON.stringify(nkey)}`,
        'nkey',
        { cause: err },
      );
    }
    this.nkeys.set(nkey, {
      key,
      permissions: permissions ? new PermissionSet(permissions, `user ${nkey}.permissions`) : null,
    });
  }

  /** Whether `id` is a configured nkey or user name. */
  hasUser(id: string): boolean {
    return this.nkeys.has(id) || this.users.has(id) || this.singleUser?.user === id;
  }

  /** Removes an nkey user (or a named user); false when there was none. */
  removeUser(id: string): boolean {
    return this.nkeys.delete(id) || this.users.delete(id);
  }

  /** 11 random bytes, base64url without padding (server.go generateNonce). */
  newNonce(): string | undefined {
    return this.usesNonce ? randomBytes(11).toString('base64url') : undefined;
  }

  /** Checks CONNECT credentials; null means 'Authorization Violation'. */
  authenticate(c: ConnectCredentials, nonce: string | undefined): AuthResult | null {
    if (!this.required) return { user: '', permissions: null };
    if (this.trust) {
      if (!c.jwt) {
        this.lastJwtError = 'no user JWT in CONNECT';
        return null;
      }
      try {
        const r = this.trust.authenticate(c.jwt, c.sig, nonce);
        const perms = r.permissions
          ? new ClientPermissions(
              new PermissionSet(r.permissions as Permissions, `user JWT ${r.user} permissions`),
            )
          : null;
        return {
          user: r.user,
          permissions: perms,
          account: r.account,
          expiresAt: r.expiresAt,
          accountExpiresAt: r.accountExpiresAt,
          accountMaxConnections: r.maxConnections,
        };
      } catch (err) {
        if (!(err instanceof JwtError) && !(err instanceof BrokerConfigError)) throw err;
        this.lastJwtError = err.message;
        return null;
      }
    }
    if (this.nkeys.size > 0 && c.nkey) {
      const u = this.nkeys.get(c.nkey);
      if (!u || !c.sig || nonce === undefined) return null;
      // auth.go: base64url without padding, falling back to standard base64.
      const sig = /^[A-Za-z0-9_-]+$/.test(c.sig)
        ? Buffer.from(c.sig, 'base64url')
        : Buffer.from(c.sig, 'base64');
      if (sig.length !== 64) return null;
      let ok = false;
      try {
        ok = verify(null, Buffer.from(nonce, 'latin1'), u.key, sig);
      } catch {
        ok = false;
      }
      return ok ? { user: c.nkey, permissions: wrap(u.permissions) } : null;
    }
    if (this.users.size > 0) {
      if (!c.user) return null;
      const u = this.users.get(c.user);
      if (!u || !sameSecret(u.password, c.pass)) return null;
      return { user: c.user, permissions: wrap(u.permissions) };
    }
    if (this.token !== undefined) {
      return sameSecret(this.token, c.auth_token) ? { user: '', permissions: null } : null;
    }
    if (this.singleUser) {
      if (c.user !== this.singleUser.user || !sameSecret(this.singleUser.password, c.pass))
        return null;
      return { user: c.user, permissions: null };
    }
    return null;
  }
}

function wrap(set: PermissionSet | null): ClientPermissions | null {
  return set ? new ClientPermissions(set) : null;
}
