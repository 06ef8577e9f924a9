import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { verifyJwt } from '../broker/jwt.js';
import { formatCreds } from '../protocol/creds.js';
import { enrolUserPermissions, type SubjectPermissions } from '../protocol/enrolment.js';
import {
  generateIdentity,
  type Identity,
  identityFromSeed,
  type Subjects,
} from '../protocol/index.js';
import { accountLimits, decodeJwtClaims, encodeJwt, type JwtClaims, userNats } from './nats-jwt.js';

// nats-server's decentralized auth ("operator mode") set up and run by admiral, with no nsc
// (docs/security.md, "On nats-server with JWTs"). `admiral nats init` makes, once: an operator, a
// system account (the servers' own, from which updates are pushed) and the fleet's account, whose
// users are signed by an account signing key that central holds. The servers trust the operator
// and keep accounts in a full resolver (`resolver { type: full }`), which takes account JWT
// updates on `$SYS.REQ.CLAIMS.UPDATE` (server/accounts.go, DirAccResolver.Start) and applies them
// to connected clients at once: a revocation disconnects the revoked user, with no reload. The
// operator JWT does not set `strict_signing_key_usage`, so the operator key itself signs the
// account JWTs (the resolver refuses that only in strict mode); users are signed by the account's
// signing key, never by the account key, which stays out of central's daily use.

/** Files of `<dataDir>/nats/`, made by `admiral nats init` (seeds 0600). */
export const NATS_OPERATOR_FILES = {
  dir: 'nats',
  operatorSeed: 'operator.seed',
  accountSeed: 'account.seed',
  signingSeed: 'account-signing.seed',
  systemSeed: 'system.seed',
  operatorJwt: 'operator.jwt',
  accountJwt: 'account.jwt',
  systemJwt: 'system.jwt',
  /** The system account's user central pushes account updates with. */
  systemCreds: 'system-user.creds',
  /** The public enrolment user (a bearer JWT, as the embedded broker's `enrol`/`enrol` login). */
  enrolJwt: 'enrol.jwt',
  /** Central's own login: its identity key, every permission. */
  centralCreds: 'central.creds',
  /** The fragment to `include` in nats-server's configuration. */
  serverConf: 'nats-server.conf',
} as const;

export class NatsOperatorError extends Error {
  override readonly name = 'NatsOperatorError';
  readonly code = 'ADMIRAL_NATS_OPERATOR';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

function writeSecret(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** The account's `nats` claims: no limits, JetStream on, its signing key, its revocations. */
function accountNats(
  signingKey: string,
  revocations: Record<string, number>,
): Record<string, unknown> {
  return {
    limits: accountLimits(),
    signing_keys: [signingKey],
    ...(Object.keys(revocations).length > 0 && { revocations }),
    default_permissions: { pub: {}, sub: {} },
    type: 'account',
    version: 2,
  };
}

/** The operator, accounts and keys of one fleet, loaded from `<dataDir>/nats/`. */
export class NatsOperator {
  readonly dir: string;
  readonly #subjects: Subjects;
  readonly #operator: Identity;
  readonly #account: Identity;
  readonly #signing: Identity;
  readonly #system: Identity;
  #accountJwt: string;

  private constructor(dir: string, subjects: Subjects) {
    this.dir = dir;
    this.#subjects = subjects;
    const seed = (file: string): Identity => {
      try {
        return identityFromSeed(readFileSync(join(dir, file), 'utf8'));
      } catch (err) {
        throw new NatsOperatorError(
          `cannot read ${join(dir, file)}: ${err instanceof Error ? err.message : String(err)}; make the operator once with: admiral nats init`,
          { cause: err },
        );
      }
    };
    this.#operator = seed(NATS_OPERATOR_FILES.operatorSeed);
    this.#account = seed(NATS_OPERATOR_FILES.accountSeed);
    this.#signing = seed(NATS_OPERATOR_FILES.signingSeed);
    this.#system = seed(NATS_OPERATOR_FILES.systemSeed);
    this.#accountJwt = readFileSync(join(dir, NATS_OPERATOR_FILES.accountJwt), 'utf8').trim();
  }

  /** Whether `dir` holds an operator made by `init`. */
  static exists(dir: string): boolean {
    return existsSync(join(dir, NATS_OPERATOR_FILES.operatorSeed));
  }

  static load(dir: string, subjects: Subjects): NatsOperator {
    return new NatsOperator(dir, subjects);
  }

  /**
   * Makes the operator, the system account, the fleet's account with its signing key, the
   * system user and the enrolment user in `dir`, once; refuses to overwrite (every issued JWT
   * hangs on these keys).
   */
  static init(
    dir: string,
    subjects: Subjects,
    options: { name?: string; resolverDir?: string } = {},
  ): NatsOperator {
    const name = options.name ?? 'admiral';
    if (NatsOperator.exists(dir)) {
      throw new NatsOperatorError(
        `${dir} already holds an operator (${NATS_OPERATOR_FILES.operatorSeed}); every node's JWT is signed under it, so it is not made again`,
      );
    }
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const operator = generateIdentity('operator');
    const account = generateIdentity('account');
    const signing = generateIdentity('account');
    const system = generateIdentity('account');
    const iat = nowSeconds();
    const operatorJwt = encodeJwt(
      {
        iat,
        iss: operator.publicKey,
        sub: operator.publicKey,
        name,
        nats: { system_account: system.publicKey, type: 'operator', version: 2 },
      },
      operator,
    );
    const systemJwt = encodeJwt(
      {
        iat,
        iss: operator.publicKey,
        sub: system.publicKey,
        name: 'SYS',
        nats: {
          limits: { ...accountLimits(), mem_storage: 0, disk_storage: 0, streams: 0, consumer: 0 },
          type: 'account',
          version: 2,
        },
      },
      operator,
    );
    const accountJwt = encodeJwt(
      {
        iat,
        iss: operator.publicKey,
        sub: account.publicKey,
        name,
        nats: accountNats(signing.publicKey, {}),
      },
      operator,
    );
    const F = NATS_OPERATOR_FILES;
    writeSecret(join(dir, F.operatorSeed), `${operator.seed}\n`);
    writeSecret(join(dir, F.accountSeed), `${account.seed}\n`);
    writeSecret(join(dir, F.signingSeed), `${signing.seed}\n`);
    writeSecret(join(dir, F.systemSeed), `${system.seed}\n`);
    writeFileSync(join(dir, F.operatorJwt), `${operatorJwt}\n`);
    writeFileSync(join(dir, F.systemJwt), `${systemJwt}\n`);
    writeFileSync(join(dir, F.accountJwt), `${accountJwt}\n`);
    const sysUser = generateIdentity('user');
    const sysUserJwt = encodeJwt(
      {
        iat,
        iss: system.publicKey,
        sub: sysUser.publicKey,
        name: 'admiral-system',
        nats: { ...userNats(system.publicKey, undefined), issuer_account: undefined },
      },
      system,
    );
    writeSecret(join(dir, F.systemCreds), formatCreds(sysUserJwt, sysUser.seed));
    const op = new NatsOperator(dir, subjects);
    writeFileSync(join(dir, F.enrolJwt), `${op.enrolJwt()}\n`);
    writeFileSync(join(dir, F.serverConf), op.serverConf(options.resolverDir ?? 'jwt'));
    return op;
  }

  get operatorPublicKey(): string {
    return this.#operator.publicKey;
  }
  get accountPublicKey(): string {
    return this.#account.publicKey;
  }
  get systemAccountPublicKey(): string {
    return this.#system.publicKey;
  }
  /** The fleet account's JWT as it stands (with every revocation so far). */
  get accountJwt(): string {
    return this.#accountJwt;
  }

  /**
   * nats-server's configuration for this operator: trust it, its system account, a full
   * resolver in `resolverDir` (each server its own), the two accounts preloaded.
   */
  serverConf(resolverDir: string): string {
    const F = NATS_OPERATOR_FILES;
    const operatorJwt = readFileSync(join(this.dir, F.operatorJwt), 'utf8').trim();
    const systemJwt = readFileSync(join(this.dir, F.systemJwt), 'utf8').trim();
    return [
      '# nats-server operator mode for an admiral fleet, made by `admiral nats init`.',
      `operator: ${JSON.stringify(operatorJwt)}`,
      `system_account: ${this.#system.publicKey}`,
      'resolver: {',
      '  type: full',
      `  dir: ${JSON.stringify(resolverDir)}`,
      '  allow_delete: false',
      '  interval: "2m"',
      '}',
      'resolver_preload: {',
      `  ${this.#system.publicKey}: ${JSON.stringify(systemJwt)}`,
      `  ${this.#account.publicKey}: ${JSON.stringify(this.#accountJwt)}`,
      '}',
      '',
    ].join('\n');
  }

  /** A user JWT in the fleet account, signed by the account signing key. */
  userJwt(
    publicKey: string,
    name: string,
    permissions: SubjectPermissions | undefined,
    extra: { bearer?: boolean } = {},
  ): string {
    return encodeJwt(
      {
        iat: nowSeconds(),
        iss: this.#signing.publicKey,
        sub: publicKey,
        name,
        nats: userNats(this.#account.publicKey, permissions, extra),
      },
      this.#signing,
    );
  }

  /** A `.creds` file for `identity` with `permissions` (none: central's, unrestricted). */
  userCreds(identity: Identity, name: string, permissions?: SubjectPermissions): string {
    return formatCreds(this.userJwt(identity.publicKey, name, permissions), identity.seed);
  }

  /** The enrolment JWT `init` wrote (`enrol.jwt`), what joining nodes take as `--enrol-jwt`. */
  storedEnrolJwt(): string {
    return readFileSync(join(this.dir, NATS_OPERATOR_FILES.enrolJwt), 'utf8').trim();
  }

  /** Writes central's `.creds` (its identity, unrestricted) into the folder; returns its path. */
  writeCentralCreds(identity: Identity, name: string): string {
    const path = join(this.dir, NATS_OPERATOR_FILES.centralCreds);
    writeSecret(path, this.userCreds(identity, name));
    return path;
  }

  /** The public enrolment user: a bearer JWT allowed only to ask `enrol` (enrolUserPermissions). */
  enrolJwt(): string {
    const key = generateIdentity('user').publicKey;
    return this.userJwt(key, 'enrol', enrolUserPermissions(this.#subjects), { bearer: true });
  }

  /** The `.creds` text of the system account's user, for pushing account updates. */
  systemCreds(): string {
    return readFileSync(join(this.dir, NATS_OPERATOR_FILES.systemCreds), 'utf8');
  }

  /**
   * Revokes every JWT of `publicKey` issued until now: a new account JWT (saved) whose
   * `revocations` name it. Push it with `push` for the servers to apply it.
   */
  revoke(publicKey: string): string {
    const old = decodeJwtClaims(this.#accountJwt);
    const revocations = {
      ...((old.nats.revocations as Record<string, number> | undefined) ?? {}),
      [publicKey]: nowSeconds(),
    };
    // The resolver keeps a stored JWT issued later than the one it is given (dirstore.go,
    // saveIfNewer): never go back, even in the same second.
    const claims: JwtClaims = {
      iat: Math.max(nowSeconds(), old.iat + 1),
      iss: this.#operator.publicKey,
      sub: this.#account.publicKey,
      name: old.name,
      nats: accountNats(this.#signing.publicKey, revocations),
    };
    this.#accountJwt = encodeJwt(claims, this.#operator);
    writeSecret(join(this.dir, NATS_OPERATOR_FILES.accountJwt), `${this.#accountJwt}\n`);
    return this.#accountJwt;
  }

  /**
   * Takes in the revocations of `jwt`, the fleet account's JWT as a server holds it: another
   * central of the same operator (a standby with a copy of this folder) may have revoked nodes
   * since this one last wrote it. The account JWT is signed again with both sets of revocations,
   * issued after both, and saved; returns whether it gained any (push it then). Refuses a JWT that
   * is not this operator's for this account.
   */
  merge(jwt: string): boolean {
    let theirs: ReturnType<typeof verifyJwt>;
    try {
      theirs = verifyJwt(jwt.trim(), 'O', 'account');
    } catch (err) {
      throw new NatsOperatorError(
        `the account JWT a server holds does not verify: ${String(err)}`,
        {
          cause: err,
        },
      );
    }
    if (theirs.iss !== this.#operator.publicKey || theirs.sub !== this.#account.publicKey) {
      throw new NatsOperatorError(
        `the account JWT a server holds is ${theirs.sub} issued by ${theirs.iss}, not this fleet's account ${this.#account.publicKey} of operator ${this.#operator.publicKey}`,
      );
    }
    const old = decodeJwtClaims(this.#accountJwt);
    const ours = (old.nats.revocations as Record<string, number> | undefined) ?? {};
    const revocations = { ...ours };
    let gained = false;
    const given = (theirs.nats as { revocations?: unknown }).revocations;
    for (const [key, at] of Object.entries(
      typeof given === 'object' && given !== null ? given : {},
    )) {
      if (typeof at !== 'number' || !/^U[A-Z2-7]{55}$/.test(key)) continue;
      if ((revocations[key] ?? -1) >= at) continue;
      revocations[key] = at;
      gained = true;
    }
    if (!gained) return false;
    const theirIat = typeof theirs.iat === 'number' ? theirs.iat : 0;
    this.#accountJwt = encodeJwt(
      {
        iat: Math.max(nowSeconds(), old.iat + 1, theirIat + 1),
        iss: this.#operator.publicKey,
        sub: this.#account.publicKey,
        name: old.name,
        nats: accountNats(this.#signing.publicKey, revocations),
      },
      this.#operator,
    );
    writeSecret(join(this.dir, NATS_OPERATOR_FILES.accountJwt), `${this.#accountJwt}\n`);
    return true;
  }

  /** Whether `publicKey` is revoked in the account JWT as it stands. */
  isRevoked(publicKey: string): boolean {
    const revocations = decodeJwtClaims(this.#accountJwt).nats.revocations as
      Record<string, number> | undefined;
    return revocations?.[publicKey] !== undefined;
  }

  /**
   * Sends the account JWT to the servers on `$SYS.REQ.CLAIMS.UPDATE` over `sys` (a connection
   * as the system user) and resolves once one server says it took it; in a cluster the full
   * resolvers pass it on to each other.
   */
  async push(sys: NatsConnection, timeoutMs = 5000): Promise<void> {
    let reply: { data?: { code?: number; message?: string }; error?: { description?: string } };
    try {
      const msg = await sys.request('$SYS.REQ.CLAIMS.UPDATE', this.#accountJwt, {
        timeout: timeoutMs,
      });
      reply = JSON.parse(Buffer.from(msg.data).toString('utf8')) as typeof reply;
    } catch (err) {
      throw new NatsOperatorError(
        `no nats-server took the account update on $SYS.REQ.CLAIMS.UPDATE: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    if (reply.error !== undefined || reply.data?.code !== 200) {
      throw new NatsOperatorError(
        `nats-server refused the account update: ${reply.error?.description ?? JSON.stringify(reply)}`,
      );
    }
  }
}
