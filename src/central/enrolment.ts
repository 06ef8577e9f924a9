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
import { isValidNodeName, type Subjects } from '../protocol/index.js';
import { verifyRequest } from '../protocol/signed-request.js';
import type { EnrolmentStore, EnrolRecord, EnrolState, TokenView } from './enrolment-store.js';
import { centralTrust, refusalText } from './trusted.js';

// Central's side of joining a fleet (docs/security.md, "Joining a fleet"): answers joining
// nodes on `adm.central.enrol`, admits them with a valid token or on an operator's word, and
// serves operators' signed requests on `adm.central.enrolAdmin` (tokens, pending nodes,
// accept, reject, revoke). An admitted node's key becomes a broker user with its own subjects'
// permissions; a revoked one's user is removed and its connections closed.

/** What the enrolment needs of the broker: src/broker's runtime user API. */
export interface BrokerUsers {
  addNkeyUser(nkey: string, permissions?: PermissionsInput): void;
  removeUser(id: string): Promise<number>;
}

export interface EnrolmentOptions {
  readonly store: EnrolmentStore;
  readonly broker: BrokerUsers;
  /** Lifetime of tokens made without one, in ms. */
  readonly tokenTtlMs: number;
}

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
  #ctx: NodeContext | undefined;

  constructor(options: EnrolmentOptions) {
    this.#o = options;
  }

  /** Makes a join token (`admiral up` prints one). */
  createToken(ttlMs = this.#o.tokenTtlMs, label?: string): { token: string; view: TokenView } {
    return this.#o.store.createToken(ttlMs, label);
  }

  async start(ctx: NodeContext): Promise<void> {
    this.#ctx = ctx;
    const operators = centralTrust(ctx);
    const nc: NatsConnection = ctx.nc;
    this.#subs.push(
      nc.subscribe(ctx.subjects.central(ENROL_SERVICE), {
        callback: guarded(
          ctx.options.log,
          'enrolment',
          (msg) => msg.respond(JSON.stringify(this.#enrol(msg.data))),
          (e) =>
            JSON.stringify({ status: 'rejected', reason: `bad enrolment request: ${String(e)}` }),
        ),
      }),
      nc.subscribe(ctx.subjects.central(ENROL_ADMIN_SERVICE), {
        callback: (err, msg) => {
          if (err) return;
          this.#admin(msg.data, operators)
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

  async stop(): Promise<void> {
    for (const s of this.#subs) s.unsubscribe();
    this.#subs.length = 0;
  }

  #enrol(raw: Uint8Array): EnrolReply {
    const ctx = this.#ctx;
    if (!ctx) return { status: 'pending', reason: 'central is starting' };
    const { store } = this.#o;
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
    const rec = store.node(name);
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
    let why = 'no join token given';
    if (token !== undefined) {
      const check = store.checkToken(token);
      if (check.ok) {
        store.used(check.id);
        log('info', 'node enrolled with a join token', { node: name, token: check.id });
        return this.#admit(name, signer, `token ${check.id}`);
      }
      why = check.reason;
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
    this.#o.broker.addNkeyUser(
      publicKey,
      toBrokerPermissions(nodePermissions(ctx.subjects, name, ctx.options.name)),
    );
    return {
      status: 'accepted',
      central: { name: ctx.options.name, publicKey: ctx.identity.publicKey },
      subjectPrefix: ctx.subjects.prefix,
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
        const closed = await this.#o.broker.removeUser(rec.publicKey);
        log('warn', 'node revoked: its broker user is removed', { node: rec.name, closed });
        return { ok: true, node, closed };
      }
      default:
        return {
          ok: false,
          error: `unknown enrolAdmin operation ${JSON.stringify((body as { op?: unknown })?.op)}`,
        };
    }
  }
}
