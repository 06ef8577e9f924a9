import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { PermissionsInput } from '../broker/index.js';
import type { NodeContext, NodeExtension } from '../node/extension.js';
import { guarded } from '../node/guarded.js';
import {
  ENROL_ADMIN_SERVICE,
  ENROL_PASSWORD,
  ENROL_SERVICE,
  ENROL_USER,
  type EnrolReply,
  type EnrolRequestBody,
  enrolUserPermissions,
  nodePermissions,
  type SubjectPermissions,
} from '../protocol/enrolment.js';
import { type Identity, isValidNodeName, type Subjects } from '../protocol/index.js';
import { verifyRequest } from '../protocol/signed-request.js';
import type { SharedEnrolment } from '../store/jetstream/enrolment.js';
import type {
  EnrolChange,
  EnrolmentStore,
  EnrolRecord,
  EnrolState,
  TokenView,
} from './enrolment-store.js';
import { RateLimiter } from './rate-limit.js';
import { centralTrust, refusalText } from './trusted.js';

// Central's side of joining a fleet (docs/security.md, "Joining a fleet"): answers joining
// nodes on `adm.central.enrol`, admits them with a valid token or on an operator's word, and
// serves operators' signed requests on `adm.central.enrolAdmin` (tokens, pending nodes,
// accept, reject, revoke). An admitted node's key becomes a broker user with its own subjects'
// permissions; a revoked one's user is removed and its connections closed.

/** src/broker's runtime user API. */
export interface BrokerUsers {
  addNkeyUser(nkey: string, permissions?: PermissionsInput): void;
  removeUser(id: string): Promise<number>;
}

/**
 * What the enrolment needs of the broker: the embedded broker's users (embeddedBrokerAccess), or
 * user JWTs on nats-server in operator mode (central/nats-jwt-access.ts).
 */
export interface NodeBrokerAccess {
  /** Lets the node's key in with `permissions`; returns the user JWT it must log in with, if any. */
  admit(name: string, publicKey: string, permissions: SubjectPermissions): string | undefined;
  /** Cuts the key off, connected or not; resolves with the connections closed, when known. */
  revoke(publicKey: string): Promise<number | undefined>;
  /** Called when the enrolment starts and stops. */
  start?(log: NodeContext['options']['log']): Promise<void>;
  close?(): Promise<void>;
}

/** The embedded broker's users as NodeBrokerAccess: nkey users added and removed at run time. */
export function embeddedBrokerAccess(broker: BrokerUsers): NodeBrokerAccess {
  return {
    admit(_name, publicKey, permissions) {
      broker.addNkeyUser(publicKey, toBrokerPermissions(permissions));
      return undefined;
    },
    revoke: (publicKey) => broker.removeUser(publicKey),
  };
}

export interface EnrolmentOptions {
  readonly store: EnrolmentStore;
  readonly broker: NodeBrokerAccess;
  /** Lifetime of tokens made without one, in ms. */
  readonly tokenTtlMs: number;
  /** Most nodes waiting for an operator at once (`central.enrol.maxPending`); default 100. */
  readonly maxPending?: number;
  /** A pending node not heard from for this long is dropped, ms (`central.enrol.pendingTtl`); default 1 h. */
  readonly pendingTtlMs?: number;
  /** Requests per second without a valid token, all together (`central.enrol.requestsPerSecond`); default 20. */
  readonly requestsPerSecond?: number;
  /**
   * Centrals sharing state (JetStream): the records are shared through this bucket, opened once
   * connected, and only the leader serves enrolment (`leadership`).
   */
  readonly shared?: (nc: NatsConnection, identity: Identity) => Promise<SharedEnrolment>;
  /** Whether this central leads, and its changes; without it the enrolment is always served. */
  readonly leadership?: { watch(listener: (leading: boolean) => void): () => void };
}

/** Defaults of the enrolment limits (config `central.enrol.*`). */
export const ENROL_LIMITS = { maxPending: 100, pendingTtlMs: 3_600_000, requestsPerSecond: 20 };
/** Per claimed name: a waiting node asks every `join.retryInterval` (10 s); 3 at once, then one per second. */
const PER_NAME = { perSecond: 1, burst: 3 };

/** An operator's request to `enrolAdmin`. */
export type EnrolAdminBody =
  | { readonly op: 'tokens.create'; readonly ttlSeconds?: number; readonly label?: string }
  | { readonly op: 'tokens.list' }
  | { readonly op: 'tokens.revoke'; readonly id: string }
  | { readonly op: 'nodes.list'; readonly state?: EnrolState }
  | { readonly op: 'nodes.accept'; readonly name: string }
  | { readonly op: 'nodes.reject'; readonly name: string; readonly reason?: string }
  | { readonly op: 'nodes.revoke'; readonly name: string };

export type EnrolAdminReply =
  | {
      readonly ok: true;
      readonly token?: string;
      readonly tokens?: readonly TokenView[];
      readonly nodes?: readonly EnrolRecord[];
      readonly node?: EnrolRecord;
      /** Connections closed by a revoke. */
      readonly closed?: number;
    }
  | { readonly ok: false; readonly error: string };

/**
 * The broker users of a secured `admiral up`: the central (and local CLI) by its nkey with every
 * permission, the public enrolment user, and every node already accepted.
 */
export function enrolmentBrokerUsers(
  store: EnrolmentStore,
  subjects: Subjects,
  central: { name: string; publicKey: string },
): { user?: string; password?: string; nkey?: string; permissions?: PermissionsInput }[] {
  return [
    { nkey: central.publicKey },
    {
      user: ENROL_USER,
      password: ENROL_PASSWORD,
      permissions: toBrokerPermissions(enrolUserPermissions(subjects)),
    },
    ...store.nodes('accepted').map((n) => ({
      nkey: n.publicKey,
      permissions: toBrokerPermissions(nodePermissions(subjects, n.name, central.name)),
    })),
  ];
}

/** Name and token as the request claims them, before its signature is checked (for the limits). */
function peekBody(raw: Uint8Array): { name: string; token: string | undefined } {
  try {
    const parsed = JSON.parse(Buffer.from(raw).toString('utf8')) as { body?: EnrolRequestBody };
    const body = parsed?.body;
    return {
      name: typeof body?.name === 'string' ? body.name.slice(0, 64) : '',
      token: typeof body?.token === 'string' ? body.token : undefined,
    };
  } catch {
    return { name: '', token: undefined };
  }
}

function toBrokerPermissions(p: SubjectPermissions): PermissionsInput {
  return {
    publish: { allow: [...p.publish.allow] },
    subscribe: { allow: [...p.subscribe.allow] },
    ...(p.allowResponses && { allowResponses: { ...p.allowResponses } }),
  };
}

export class EnrolmentExtension implements NodeExtension {
  readonly name = 'enrolment';
  readonly #o: EnrolmentOptions;
  readonly #subs: Subscription[] = [];
  readonly #limiter: RateLimiter;
  #ctx: NodeContext | undefined;
  #shared: SharedEnrolment | undefined;
  /**
   * The time of the newest value of each shared key this central holds (written or taken); an
   * older one, arriving late or put back by someone, is ignored. Seeded from the records' own times.
   */
  readonly #seen = new Map<string, number>();
  /** This central's writes to the shared records not yet acknowledged. */
  readonly #writing = new Set<Promise<unknown>>();
  readonly #cleanups: (() => void)[] = [];
  /** Settles once the shared records were read after this central took the lease. */
  #ready: Promise<void> = Promise.resolve();

  constructor(options: EnrolmentOptions) {
    this.#o = options;
    // The request comes over NATS as the public enrolment user: central cannot see the asker's
    // address, and a name or a key costs an attacker nothing. So: a bucket per claimed name (one
    // noisy name cannot use up the rest), one for everyone, a cap on the pending entries, and a
    // valid join token, which passes all of them.
    this.#limiter = new RateLimiter({
      ...PER_NAME,
      globalPerSecond: options.requestsPerSecond ?? ENROL_LIMITS.requestsPerSecond,
    });
  }

  #expirePending(): void {
    const ttl = this.#o.pendingTtlMs ?? ENROL_LIMITS.pendingTtlMs;
    const dropped = this.#o.store.expirePending(Date.now() - ttl);
    if (dropped.length > 0) {
      this.#ctx?.options.log('info', 'pending enrolments expired: not asked again in time', {
        nodes: dropped,
      });
    }
  }

  /** Why an asker without a valid token is not heard now, or undefined. */
  #limited(raw: Uint8Array): string | undefined {
    const { name, token } = peekBody(raw);
    if (token !== undefined && this.#o.store.checkToken(token).ok) return undefined;
    const which = this.#limiter.take(`name:${name}`);
    if (which === 'ok') return undefined;
    const rate = this.#o.requestsPerSecond ?? ENROL_LIMITS.requestsPerSecond;
    return which === 'source'
      ? `too many enrolment requests for node ${name}; not recorded, ask again later`
      : `more than ${rate} enrolment requests per second without a valid join token (central.enrol.requestsPerSecond); not recorded, ask again later or use a join token`;
  }

  /** Makes a join token (`admiral up` prints one). */
  createToken(ttlMs = this.#o.tokenTtlMs, label?: string): { token: string; view: TokenView } {
    return this.#o.store.createToken(ttlMs, label);
  }

  async start(ctx: NodeContext): Promise<void> {
    this.#ctx = ctx;
    await this.#o.broker.start?.(ctx.options.log);
    const { shared, leadership } = this.#o;
    if (shared !== undefined) {
      const bucket = await shared(ctx.nc, ctx.identity);
      this.#shared = bucket;
      // What this central holds is as new as its records say: an older value is not taken.
      for (const c of this.#o.store.entries()) {
        const v = c.value;
        const at =
          v === undefined
            ? 0
            : 'updatedAt' in v
              ? v.updatedAt
              : Math.max(v.createdAt, v.revokedAt ?? 0);
        this.#seen.set(`${c.kind}.${c.key}`, at);
      }
      await this.#catchUp(true);
      this.#o.store.onChange = (change) => this.#share(change);
      this.#cleanups.push(
        bucket.watch(
          (change, at) => this.#take(change, at),
          () => void this.#catchUp(false).catch(() => undefined),
          ctx.options.log,
        ),
      );
    }
    if (leadership === undefined) {
      this.#serve(ctx);
      return;
    }
    // Only the leader answers: two centrals deciding on one name at once could both admit it.
    let turn = Promise.resolve();
    this.#cleanups.push(
      leadership.watch((leading) => {
        turn = turn.then(async () => {
          if (leading && this.#subs.length === 0) {
            // Served at once (nobody gets "no responders"), answered once the records are read.
            this.#ready = this.#catchUp(false).catch((err: unknown) =>
              ctx.options.log('warn', 'cannot read the shared enrolment records', {
                error: String(err),
              }),
            );
            this.#serve(ctx);
          } else if (!leading) this.#unserve();
        });
      }),
    );
  }

  #serve(ctx: NodeContext): void {
    const operators = centralTrust(ctx);
    const nc: NatsConnection = ctx.nc;
    const enrol = guarded(
      ctx.options.log,
      'enrolment',
      (msg) => msg.respond(JSON.stringify(this.#enrol(msg.data))),
      (e) => JSON.stringify({ status: 'rejected', reason: `bad enrolment request: ${String(e)}` }),
    );
    this.#subs.push(
      nc.subscribe(ctx.subjects.central(ENROL_SERVICE), {
        callback: (err, msg) => void this.#ready.then(() => enrol(err, msg)),
      }),
      nc.subscribe(ctx.subjects.central(ENROL_ADMIN_SERVICE), {
        callback: (err, msg) => {
          if (err) return;
          this.#ready
            .then(() => this.#admin(msg.data, operators))
            // An operator's decision is answered once the other centrals can see it.
            .then(async (reply) => {
              await Promise.allSettled([...this.#writing]);
              return reply;
            })
            .then(
              (reply) => msg.respond(JSON.stringify(reply)),
              (e: unknown) => msg.respond(JSON.stringify({ ok: false, error: String(e) })),
            )
            // The answer could not go out (connection closed): the asker times out.
            .catch((e: unknown) =>
              ctx.options.log('warn', 'enrolment: cannot answer', { error: String(e) }),
            );
        },
      }),
    );
  }

  #unserve(): void {
    for (const s of this.#subs) s.unsubscribe();
    this.#subs.length = 0;
  }

  async stop(): Promise<void> {
    for (const c of this.#cleanups.splice(0)) c();
    this.#unserve();
    this.#o.store.onChange = undefined;
    await Promise.allSettled([...this.#writing]);
    await this.#o.broker.close?.();
  }

  /** Writes a change made here to the shared records, newer than any value seen for its key. */
  #share(change: EnrolChange): void {
    const shared = this.#shared;
    if (shared === undefined) return;
    const key = `${change.kind}.${change.key}`;
    const at = Math.max(Date.now(), (this.#seen.get(key) ?? 0) + 1);
    this.#seen.set(key, at);
    const p = shared.write(change, at).catch((err: unknown) =>
      this.#ctx?.options.log('error', 'an enrolment change did not reach the shared state', {
        record: key,
        error: String(err),
      }),
    );
    this.#writing.add(p);
    void p.finally(() => this.#writing.delete(p));
  }

  /**
   * Reads every shared record and takes in those newer than this central's. On the first read,
   * the records only this central has (its SQLite-era file) are written there, so the first
   * central on JetStream brings its enrolments along.
   */
  async #catchUp(first: boolean): Promise<void> {
    const shared = this.#shared;
    if (shared === undefined) return;
    const all = await shared.all();
    for (const { change, at } of all) this.#take(change, at);
    if (!first) return;
    const there = new Set(all.map(({ change }) => `${change.kind}.${change.key}`));
    for (const change of this.#o.store.entries()) {
      if (!there.has(`${change.kind}.${change.key}`)) this.#share(change);
    }
  }

  /** Takes in a change another central made: the record, and the node's key (node-keys.ts). */
  #take(change: EnrolChange, at: number): void {
    const key = `${change.kind}.${change.key}`;
    if ((this.#seen.get(key) ?? -1) >= at) return;
    this.#seen.set(key, at);
    const old = this.#o.store.apply(change);
    const ctx = this.#ctx;
    if (change.kind !== 'node' || ctx === undefined) return;
    const rec = change.value;
    const was = old as EnrolRecord | undefined;
    if (
      rec?.state === 'accepted' &&
      (was?.state !== 'accepted' || was.publicKey !== rec.publicKey)
    ) {
      ctx.nodeKeys.enrol(rec.name, rec.publicKey);
    } else if (rec?.state === 'revoked' && was?.state !== 'revoked') {
      ctx.nodeKeys.revoke(rec.name);
    }
  }

  #enrol(raw: Uint8Array): EnrolReply {
    const ctx = this.#ctx;
    if (!ctx) return { status: 'pending', reason: 'central is starting' };
    const { store } = this.#o;
    const limited = this.#limited(raw);
    if (limited !== undefined) return { status: 'busy', reason: limited };
    let signer: string;
    let body: EnrolRequestBody;
    try {
      // Any key may ask; the signature proves the asker holds the key it asks for.
      const req = verifyRequest(raw, ENROL_SERVICE, { has: () => true });
      signer = req.signer;
      body = req.body as EnrolRequestBody;
    } catch (err) {
      return { status: 'rejected', reason: `bad enrolment request: ${String(err)}` };
    }
    const name = body?.name;
    if (typeof name !== 'string' || !isValidNodeName(name)) {
      return {
        status: 'rejected',
        reason: `Expected a node name of 1 to 64 of A-Z a-z 0-9 _ -, got ${JSON.stringify(name)}`,
      };
    }
    if (name === ctx.options.name) {
      return { status: 'rejected', reason: `${name} is the central's own name` };
    }
    const token = typeof body.token === 'string' ? body.token : undefined;
    const log = ctx.options.log;
    this.#expirePending();
    const check = token === undefined ? undefined : store.checkToken(token);
    let rec = store.node(name);
    if (rec && rec.publicKey !== signer && rec.state === 'pending' && check?.ok === true) {
      // A claim without a valid token holds a name only until a node with one asks for it.
      store.drop(name);
      log('warn', 'a valid join token replaces a pending claim by another key', {
        node: name,
        dropped: rec.publicKey,
      });
      rec = undefined;
    }
    if (rec && rec.publicKey !== signer && (rec.state === 'accepted' || rec.state === 'pending')) {
      log('warn', 'enrolment refused: the name is taken by another key', { node: name });
      return {
        status: 'rejected',
        reason: `node name ${name} is ${rec.state} with another key; an operator may run: admiral nodes revoke ${name}`,
      };
    }
    if (rec && rec.publicKey === signer) {
      if (rec.state === 'accepted') return this.#admit(name, signer, rec.via ?? 'operator');
      if (rec.state === 'rejected' || rec.state === 'revoked') {
        return {
          status: 'rejected',
          reason: `node ${name} was ${rec.state} by an operator${rec.reason ? `: ${rec.reason}` : ''}`,
        };
      }
    }
    if (check?.ok === true) {
      store.used(check.id);
      log('info', 'node enrolled with a join token', { node: name, token: check.id });
      return this.#admit(name, signer, `token ${check.id}`);
    }
    const why = check?.reason ?? 'no join token given';
    if (!(rec && rec.publicKey === signer && rec.state === 'pending')) {
      // A new pending entry. One per key: asking under a new name gives up the old one.
      for (const other of store.nodes('pending')) {
        if (other.publicKey === signer) store.drop(other.name);
      }
      const max = this.#o.maxPending ?? ENROL_LIMITS.maxPending;
      if (store.nodes('pending').length >= max) {
        log('warn', 'enrolment refused: too many nodes are waiting', { node: name, max });
        return {
          status: 'busy',
          reason: `${max} nodes are already waiting for an operator (central.enrol.maxPending); not recorded: ask again later, or use a join token`,
        };
      }
    }
    store.set(name, signer, 'pending', { reason: why });
    log('info', 'node waits for an operator to accept it', { node: name, key: signer, why });
    return {
      status: 'pending',
      reason: `${why}; waiting for an operator to run: admiral nodes accept ${name}`,
    };
  }

  #admit(name: string, publicKey: string, via: string): EnrolReply {
    const ctx = this.#ctx as NodeContext;
    this.#o.store.set(name, publicKey, 'accepted', { via });
    // From now on this key, and only this one, speaks for the name (node-keys.ts).
    ctx.nodeKeys.enrol(name, publicKey);
    const userJwt = this.#o.broker.admit(
      name,
      publicKey,
      nodePermissions(ctx.subjects, name, ctx.options.name),
    );
    return {
      status: 'accepted',
      central: { name: ctx.options.name, publicKey: ctx.identity.publicKey },
      subjectPrefix: ctx.subjects.prefix,
      ...(userJwt !== undefined && { userJwt }),
    };
  }

  async #admin(
    raw: Uint8Array,
    operators: { has(key: string): boolean },
  ): Promise<EnrolAdminReply> {
    let body: EnrolAdminBody;
    try {
      body = verifyRequest(raw, ENROL_ADMIN_SERVICE, operators).body as EnrolAdminBody;
    } catch (err) {
      return { ok: false, error: `refused: ${refusalText(err)}` };
    }
    const { store } = this.#o;
    const ctx = this.#ctx as NodeContext;
    const log = ctx.options.log;
    const named = (name: unknown): EnrolRecord | string =>
      typeof name === 'string' && store.node(name)
        ? (store.node(name) as EnrolRecord)
        : `no node ${JSON.stringify(name)} has asked to join (see: admiral nodes pending)`;
    switch (body?.op) {
      case 'tokens.create': {
        const ttl = body.ttlSeconds;
        if (ttl !== undefined && !(typeof ttl === 'number' && ttl > 0)) {
          return {
            ok: false,
            error: `Expected ttl to be a positive number of seconds, got ${JSON.stringify(ttl)}`,
          };
        }
        const made = store.createToken(
          ttl === undefined ? this.#o.tokenTtlMs : ttl * 1000,
          body.label,
        );
        log('info', 'join token created', { token: made.view.id });
        return { ok: true, token: made.token, tokens: [made.view] };
      }
      case 'tokens.list':
        return { ok: true, tokens: store.listTokens() };
      case 'tokens.revoke':
        if (!store.revokeToken(String(body.id))) {
          return {
            ok: false,
            error: `no join token ${JSON.stringify(body.id)} (see: admiral tokens list)`,
          };
        }
        log('info', 'join token revoked', { token: body.id });
        return {
          ok: true,
          tokens: store.listTokens().filter((t) => t.id === String(body.id).split('.')[0]),
        };
      case 'nodes.list':
        this.#expirePending();
        return { ok: true, nodes: store.nodes(body.state) };
      case 'nodes.accept': {
        const rec = named(body.name);
        if (typeof rec === 'string') return { ok: false, error: rec };
        if (rec.state !== 'accepted') this.#admit(rec.name, rec.publicKey, 'operator');
        log('info', 'node accepted by an operator', { node: rec.name });
        return { ok: true, node: store.node(rec.name) };
      }
      case 'nodes.reject': {
        const rec = named(body.name);
        if (typeof rec === 'string') return { ok: false, error: rec };
        if (rec.state === 'accepted') {
          return {
            ok: false,
            error: `node ${rec.name} is accepted; to cut it off run: admiral nodes revoke ${rec.name}`,
          };
        }
        const node = store.set(rec.name, rec.publicKey, 'rejected', {
          via: 'operator',
          ...(body.reason !== undefined && { reason: body.reason }),
        });
        log('info', 'node rejected by an operator', { node: rec.name });
        return { ok: true, node };
      }
      case 'nodes.revoke': {
        const rec = named(body.name);
        if (typeof rec === 'string') return { ok: false, error: rec };
        const node = store.set(rec.name, rec.publicKey, 'revoked', { via: 'operator' });
        ctx.nodeKeys.revoke(rec.name);
        // What waits for the revoked node is never handed to whoever holds its name next.
        const cancelled = cancelQueuedFor(ctx, rec.name);
        let closed: number | undefined;
        try {
          closed = await this.#o.broker.revoke(rec.publicKey);
        } catch (err) {
          log('error', 'node revoked, but the broker did not take it', {
            node: rec.name,
            error: String(err),
          });
          return {
            ok: false,
            error: `node ${rec.name} is revoked in central's records, but the broker did not take it yet: ${err instanceof Error ? err.message : String(err)}; central tries again when it starts, or run the revoke again`,
          };
        }
        log('warn', 'node revoked: its broker user is removed', {
          node: rec.name,
          closed,
          cancelled,
        });
        return { ok: true, node, ...(closed !== undefined && { closed }) };
      }
      default:
        return {
          ok: false,
          error: `unknown enrolAdmin operation ${JSON.stringify((body as { op?: unknown })?.op)}`,
        };
    }
  }
}

/** Ends every message still queued for `node` in central's outbox `cancelled`; returns how many. */
function cancelQueuedFor(ctx: NodeContext, node: string): number {
  const { outbox } = ctx.store;
  let n = 0;
  ctx.store.database.db.transaction(() => {
    for (const rec of outbox.pendingFor(node)) {
      const error = `node ${node} was revoked before it received this message`;
      if (outbox.finish(rec.id, 'cancelled', { error })) n++;
    }
  })();
  return n;
}
