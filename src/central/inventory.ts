import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  type Filter,
  FilterSyntaxError,
  formatFilter,
  isEmptyTarget,
  parseWhere,
  resolveTarget,
  type Target,
} from '../fleet/target.js';
import type { NodeContext, NodeExtension } from '../node/extension.js';
import { guarded } from '../node/guarded.js';
import type { NodeKeys } from '../node/node-keys.js';
import type { Logger } from '../observability/logger.js';
import {
  DEFAULT_MAX_CLOCK_SKEW_MS,
  eventVerifyItem,
  parseJsonBytes,
  type Subjects,
  signatureVerifier,
  signEvent,
  type TrustLookup,
} from '../protocol/index.js';
import type { VerifyItem } from '../protocol/verifier.js';
import { verifyRequest } from '../protocol/signed-request.js';
import { type InventoryRecord, InventoryStore } from '../store/inventory.js';
import { type SharedInventory, worthSharing } from '../store/jetstream/inventory.js';
import { centralTrust, refusalText } from './trusted.js';

// The central's node inventory (DESIGN.md, "Roles"): every node seen, online or offline with the
// time it was last heard from, and its facts. It listens to every node's lifecycle events
// (`adm.evt.<node>.online|offline|hello`, hello carrying the facts) and answers queries on
// `adm.central.inventory` (signed requests from keys central trusts, as for jobs: the facts
// name hosts and addresses, not for every connection). A node is offline when it says so, or
// when its hellos stop for `missedHellos` intervals (a crash, a cut link).

export const INVENTORY_SERVICE = 'inventory';

/** A query on `adm.central.inventory` (a signed request's body). No target lists every node. */
export interface InventoryQuery {
  readonly target?: Target;
  /** Only nodes that are online; default false. */
  readonly onlineOnly?: boolean;
  /** Answer node names only (`names`), not records; default false. */
  readonly namesOnly?: boolean;
  /** Skip this many matching nodes (paging; see `next` in the reply). */
  readonly offset?: number;
  /** Forget this node (`admiral nodes forget`): its record is removed; refused while it is online. */
  readonly forget?: string;
}

/** The reply on `adm.central.inventory`. */
export type InventoryReply =
  | {
      readonly ok: true;
      /** Matching nodes in all pages. */
      readonly total: number;
      readonly nodes?: readonly InventoryRecord[];
      readonly names?: readonly string[];
      /** Offset of the next page, when this one is not the last. */
      readonly next?: number;
    }
  | { readonly ok: false; readonly error: string };

/** Bytes of records per reply page: well under the NATS default max_payload of 1 MiB. */
const PAGE_BYTES = 512 * 1024;

export interface InventoryOptions {
  /** Hello interval assumed for nodes that do not announce theirs, in ms. */
  readonly helloIntervalMs: number;
  /** Hellos a node may miss before it is marked offline; default 3. */
  readonly missedHellos?: number;
  /** How often the write-behind buffer is committed, in ms; default 200. */
  readonly flushMs?: number;
  readonly now?: () => number;
}

/** A lifecycle event's body as nodes publish it (see `NodeEvent` in src/node/node.ts). */
interface EventBody {
  node?: unknown;
  publicKey?: unknown;
  central?: unknown;
  version?: unknown;
  facts?: unknown;
  helloIntervalMs?: unknown;
  /** Set on the offline event the central publishes for a node whose hellos stopped. */
  stale?: unknown;
  /** Unix ms, when the node sent it. */
  at?: unknown;
  /** The signing key, when not the node's own `publicKey` (protocol/event.ts). */
  signer?: unknown;
  /** The node process's run (NodeEvent.instance). */
  instance?: unknown;
}

/** The inventory itself: memory for queries, SQLite behind it (written in batches). */
export class Inventory {
  readonly #store: InventoryStore;
  readonly #nodes = new Map<string, InventoryRecord>();
  readonly #dirty = new Set<string>();
  readonly #helloMs: number;
  readonly #missed: number;
  readonly #now: () => number;
  readonly #listeners = new Set<(rec: InventoryRecord) => void>();
  readonly #forgotten = new Set<(node: string) => void>();
  /** The run (NodeEvent.instance) each node's last online or hello came from. */
  readonly #instances = new Map<string, string>();

  constructor(store: InventoryStore, options: InventoryOptions) {
    this.#store = store;
    this.#helloMs = options.helloIntervalMs;
    this.#missed = options.missedHellos ?? 3;
    this.#now = options.now ?? Date.now;
    for (const r of store.list()) this.#nodes.set(r.node, r);
  }

  /**
   * Records a lifecycle event of `node`; returns the updated record. An offline event from
   * another run of the node than the one last heard from changes nothing: it speaks only for the
   * process that sent it (two processes with the same name and key, a late event of an old run).
   */
  observe(node: string, event: 'online' | 'offline' | 'hello', body: EventBody): InventoryRecord {
    const now = this.#now();
    const prev = this.#nodes.get(node);
    const instance = typeof body.instance === 'string' ? body.instance : undefined;
    const current = this.#instances.get(node);
    if (event === 'offline') {
      if (
        prev !== undefined &&
        instance !== undefined &&
        current !== undefined &&
        instance !== current
      ) {
        return prev;
      }
      this.#instances.delete(node);
    } else if (instance !== undefined) this.#instances.set(node, instance);
    const facts =
      event === 'hello' && body.facts !== null && typeof body.facts === 'object'
        ? (body.facts as Record<string, unknown>)
        : (prev?.facts ?? {});
    const helloMs =
      typeof body.helloIntervalMs === 'number' && body.helloIntervalMs >= 0
        ? body.helloIntervalMs
        : (prev?.helloMs ?? 0);
    const rec: InventoryRecord = {
      node,
      publicKey: typeof body.publicKey === 'string' ? body.publicKey : (prev?.publicKey ?? ''),
      central: typeof body.central === 'boolean' ? body.central : (prev?.central ?? false),
      version: typeof body.version === 'string' ? body.version : (prev?.version ?? ''),
      online: event !== 'offline',
      firstSeen: prev?.firstSeen ?? now,
      lastSeen: now,
      lastEvent: event,
      helloMs,
      facts,
    };
    this.#nodes.set(node, rec);
    this.#dirty.add(node);
    this.#changed(rec);
    return rec;
  }

  /** Calls `listener` with every record that changes (the dashboard's live view); returns its removal. */
  onChange(listener: (rec: InventoryRecord) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(rec: InventoryRecord): void {
    // A listener's failure is its own: the inventory goes on.
    for (const l of this.#listeners) {
      try {
        l(rec);
      } catch {
        // the dashboard's listener only queues the name
      }
    }
  }

  /** Marks offline every online node whose hellos stopped; returns their names. */
  sweep(): string[] {
    const now = this.#now();
    const stale: string[] = [];
    for (const r of this.#nodes.values()) {
      if (!r.online) continue;
      const interval = r.helloMs > 0 ? r.helloMs : this.#helloMs;
      if (interval <= 0 || now - r.lastSeen <= this.#missed * interval) continue;
      const rec: InventoryRecord = { ...r, online: false, lastEvent: 'stale' };
      this.#nodes.set(r.node, rec);
      this.#dirty.add(r.node);
      this.#changed(rec);
      stale.push(r.node);
    }
    return stale;
  }

  /** Commits what changed since the last flush, in one transaction. */
  flush(): void {
    if (this.#dirty.size === 0) return;
    const records = [...this.#dirty].flatMap((n) => {
      const r = this.#nodes.get(n);
      return r === undefined ? [] : [r];
    });
    this.#dirty.clear();
    this.#store.putMany(records);
  }

  get(node: string): InventoryRecord | undefined {
    return this.#nodes.get(node);
  }

  /** Every node, sorted by name. */
  list(): InventoryRecord[] {
    return [...this.#nodes.values()].sort((a, b) =>
      a.node < b.node ? -1 : a.node > b.node ? 1 : 0,
    );
  }

  /** The nodes a target selects (no target: all), sorted by name. */
  select(target: Target | undefined, onlineOnly = false): InventoryRecord[] {
    const all = this.list();
    const chosen =
      target === undefined || isEmptyTarget(target)
        ? all
        : resolveTarget(target, all).flatMap((n) => {
            const r = this.#nodes.get(n);
            return r === undefined ? [] : [r];
          });
    return onlineOnly ? chosen.filter((r) => r.online) : chosen;
  }

  /**
   * Removes `node`'s record (a node retired for good); refused while it is online, since its next
   * hello would bring it back. Returns why it was refused, or undefined.
   */
  forget(node: string): string | undefined {
    const rec = this.#nodes.get(node);
    if (rec === undefined) return `node ${JSON.stringify(node)} is not in the inventory`;
    if (rec.online) {
      return `node ${node} is online (last seen ${new Date(rec.lastSeen).toISOString()}); stop it first, or it says hello again`;
    }
    this.#nodes.delete(node);
    this.#dirty.delete(node);
    this.#store.delete(node);
    for (const l of this.#forgotten) l(node);
    return undefined;
  }

  /** Calls `listener` with the name of every node forgotten; returns its removal. */
  onForget(listener: (node: string) => void): () => void {
    this.#forgotten.add(listener);
    return () => this.#forgotten.delete(listener);
  }

  /**
   * Takes in what another central knew of a node (the shared inventory), when it heard from the
   * node later than this one did; returns whether it did.
   */
  adopt(rec: InventoryRecord): boolean {
    const prev = this.#nodes.get(rec.node);
    if (prev !== undefined && prev.lastSeen >= rec.lastSeen) return false;
    this.#nodes.set(rec.node, rec);
    this.#dirty.add(rec.node);
    this.#changed(rec);
    return true;
  }

  /** Answers one query (see InventoryQuery). */
  query(q: InventoryQuery): InventoryReply {
    if (q.forget !== undefined) {
      const refused = this.forget(String(q.forget));
      return refused === undefined
        ? { ok: true, total: 0, names: [String(q.forget)] }
        : { ok: false, error: refused };
    }
    let selected: InventoryRecord[];
    try {
      const target = q.target === undefined ? undefined : checkTarget(q.target);
      selected = this.select(target, q.onlineOnly === true);
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    if (q.namesOnly === true) {
      return { ok: true, total: selected.length, names: selected.map((r) => r.node) };
    }
    const offset = Math.max(0, Math.floor(q.offset ?? 0));
    const page: InventoryRecord[] = [];
    let bytes = 0;
    let i = offset;
    for (; i < selected.length; i++) {
      const r = selected[i]!;
      const size = JSON.stringify(r).length;
      if (page.length > 0 && bytes + size > PAGE_BYTES) break;
      page.push(r);
      bytes += size;
    }
    return {
      ok: true,
      total: selected.length,
      nodes: page,
      ...(i < selected.length && { next: i }),
    };
  }
}

/** Re-validates a target that came over the wire (filters are parsed again, names checked). */
function checkTarget(raw: Target): Target {
  const where: Filter[] = [];
  for (const f of raw.where ?? []) {
    try {
      where.push(parseWhere(formatFilter(f)));
    } catch (err) {
      throw err instanceof FilterSyntaxError ? new Error(err.message) : err;
    }
  }
  if (raw.nodes !== undefined && !Array.isArray(raw.nodes)) {
    throw new Error('Expected `target.nodes` to be a list of node names');
  }
  return {
    ...(raw.nodes !== undefined && { nodes: raw.nodes.map(String) }),
    ...(raw.all === true && { all: true }),
    ...(where.length > 0 && { where }),
  };
}

export interface InventoryExtensionOptions {
  /** Hellos a node may miss before it is marked offline; default 3. */
  readonly missedHellos?: number;
  /**
   * Centrals sharing state (JetStream): the leader writes what a successor needs of each node to
   * this bucket, and a central reads it when it starts and when it takes the lease.
   */
  readonly shared?: {
    readonly open: (nc: NatsConnection) => Promise<SharedInventory>;
    readonly leadership: { watch(listener: (leading: boolean) => void): () => void };
  };
  /** Hello interval assumed for nodes that do not announce theirs, in ms; default the central's own. */
  readonly helloIntervalMs?: number;
}

/** The inventory as a central NodeExtension; `inventory` is there once the node started. */
export interface InventoryExtension extends NodeExtension {
  readonly inventory: Inventory | undefined;
}

/** The central's inventory duty: listens to lifecycle events, answers `adm.central.inventory`. */
export function inventoryExtension(options: InventoryExtensionOptions = {}): InventoryExtension {
  let inventory: Inventory | undefined;
  let subs: Subscription[] = [];
  const timers: NodeJS.Timeout[] = [];
  const cleanups: (() => void)[] = [];
  let nc: NatsConnection | undefined;
  return {
    name: 'inventory',
    get inventory() {
      return inventory;
    },
    async start(ctx: NodeContext) {
      const helloIntervalMs = options.helloIntervalMs ?? ctx.options.helloIntervalMs;
      const inv = new Inventory(new InventoryStore(ctx.store.database.db), {
        helloIntervalMs,
        ...(options.missedHellos !== undefined && { missedHellos: options.missedHellos }),
      });
      inventory = inv;
      nc = ctx.nc;
      subs = subscribe(
        ctx.nc,
        ctx.subjects,
        inv,
        centralTrust(ctx),
        ctx.options.log,
        ctx.nodeKeys,
        ctx.reportError,
        ctx.identity,
      );
      const flush = setInterval(() => {
        try {
          inv.flush();
        } catch (err) {
          ctx.options.log('warn', 'inventory: cannot write', { error: String(err) });
        }
      }, 200);
      flush.unref();
      timers.push(flush);
      if (options.shared !== undefined) {
        cleanups.push(await shareInventory(inv, options.shared, ctx.nc, ctx.options.log));
      }
      if (helloIntervalMs > 0) {
        const every = Math.max(100, Math.min(1000, Math.floor(helloIntervalMs / 2)));
        const sweep = setInterval(() => {
          for (const node of inv.sweep()) {
            ctx.options.log('info', 'inventory: node stopped saying hello, now offline', { node });
            // A node that crashed or lost its link says nothing: say it for it, so `admiral
            // events` and any other listener learn it too (the inventory itself skips this one).
            const rec = inv.get(node);
            if (!ctx.nc.isClosed()) {
              const subject = ctx.subjects.event(node, 'offline');
              ctx.nc.publish(
                subject,
                JSON.stringify(
                  signEvent(
                    subject,
                    {
                      node,
                      publicKey: rec?.publicKey ?? '',
                      central: rec?.central ?? false,
                      version: rec?.version ?? '',
                      at: Date.now(),
                      stale: true,
                      reason: `no hello for ${options.missedHellos ?? 3} intervals`,
                      by: ctx.options.name,
                    },
                    ctx.identity,
                  ),
                ),
              );
            }
          }
        }, every);
        sweep.unref();
        timers.push(sweep);
      }
      await ctx.nc.flush();
    },
    async stop() {
      for (const c of cleanups.splice(0)) c();
      for (const t of timers) clearInterval(t);
      for (const s of subs) s.unsubscribe();
      subs = [];
      inventory?.flush();
      if (nc !== undefined && !nc.isClosed()) await nc.flush().catch(() => undefined);
    },
  };
}

/**
 * Shares the inventory through `shared`'s bucket: reads it now and whenever this central takes
 * the lease (adopting the nodes heard from later elsewhere), and while it leads writes each change
 * worth sharing (coalesced per node, every 200 ms) and each forget. Returns its end.
 */
async function shareInventory(
  inv: Inventory,
  shared: NonNullable<InventoryExtensionOptions['shared']>,
  nc: NatsConnection,
  log: Logger,
): Promise<() => void> {
  const bucket = await shared.open(nc);
  const sent = new Map<string, InventoryRecord>();
  const due = new Map<string, InventoryRecord | undefined>();
  let leading = false;
  const read = async (): Promise<void> => {
    let adopted = 0;
    for (const rec of await bucket.all()) {
      sent.set(rec.node, rec);
      if (inv.adopt(rec)) adopted++;
    }
    if (adopted > 0) log('info', 'inventory: nodes taken from the shared state', { adopted });
  };
  await read().catch((err: unknown) =>
    log('warn', 'inventory: cannot read the shared state', { error: String(err) }),
  );
  const offChange = inv.onChange((rec) => {
    if (leading && worthSharing(sent.get(rec.node), rec)) due.set(rec.node, rec);
  });
  const offForget = inv.onForget((node) => {
    if (leading) due.set(node, undefined);
  });
  let writing = false;
  const timer = setInterval(() => {
    if (writing || due.size === 0) return;
    writing = true;
    const batch = [...due];
    due.clear();
    Promise.all(
      batch.map(async ([node, rec]) => {
        if (rec === undefined) {
          await bucket.delete(node);
          sent.delete(node);
        } else {
          await bucket.put(rec);
          sent.set(node, rec);
        }
      }),
    )
      .catch((err: unknown) =>
        log('warn', 'inventory: cannot write the shared state', { error: String(err) }),
      )
      .finally(() => {
        writing = false;
      });
  }, 200);
  timer.unref();
  let turn = Promise.resolve();
  const unwatch = shared.leadership.watch((now) => {
    turn = turn.then(async () => {
      if (now && !leading) {
        await read().catch((err: unknown) =>
          log('warn', 'inventory: cannot read the shared state', { error: String(err) }),
        );
        // What this central knows better than the bucket goes there now.
        for (const rec of inv.list())
          if (worthSharing(sent.get(rec.node), rec)) due.set(rec.node, rec);
      }
      leading = now;
    });
  });
  return () => {
    unwatch();
    offChange();
    offForget();
    clearInterval(timer);
  };
}

/**
 * Takes an event into the inventory only when it is signed by the key known for its node
 * (NodeKeys: enrolled, or pinned on first contact) and fresh; anything else is rejected, logged
 * and sent to the error log. Signatures are checked in batches on the verifier's thread.
 */
class EventChecker {
  #queue: {
    subject: string;
    node: string;
    event: 'online' | 'offline' | 'hello';
    body: EventBody;
  }[] = [];

  constructor(
    private readonly inv: Inventory,
    private readonly nodeKeys: NodeKeys,
    private readonly log: NodeContext['options']['log'],
    private readonly reportError: NodeContext['reportError'],
    private readonly refuse: (node: string, publicKey: string, reason: string) => void,
    private readonly maxSkewMs = DEFAULT_MAX_CLOCK_SKEW_MS,
  ) {}

  push(
    subject: string,
    node: string,
    event: 'online' | 'offline' | 'hello',
    body: EventBody,
  ): void {
    this.#queue.push({ subject, node, event, body });
    if (this.#queue.length === 1) setImmediate(() => this.#check());
  }

  #check(): void {
    const batch = this.#queue;
    this.#queue = [];
    const items: VerifyItem[] = [];
    const reasons: (string | undefined)[] = [];
    for (const e of batch) {
      const item = eventVerifyItem(e.subject, e.body as Record<string, unknown>);
      if (typeof item === 'string') reasons.push(item);
      else if (e.body.signer !== undefined && e.body.signer !== e.body.publicKey) {
        reasons.push('the event is signed by a key other than the publicKey it names');
      } else {
        reasons.push(undefined);
        items.push(item);
      }
    }
    void signatureVerifier
      .verifyItems(items)
      .then((valid) => {
        let k = 0;
        const now = Date.now();
        for (const [i, e] of batch.entries()) {
          let reason = reasons[i];
          if (reason === undefined) {
            const signer = items[k]!.signer;
            if (!valid[k++]) reason = `bad signature from ${signer}`;
            else if (typeof e.body.at !== 'number' || Math.abs(now - e.body.at) > this.maxSkewMs) {
              reason = `the event's time (at) is missing or more than ${this.maxSkewMs / 1000} s from central's clock`;
            } else {
              reason = this.nodeKeys.admit(e.node, signer);
              // The name is someone else's: tell the newcomer, so it does not run on unheard.
              if (reason !== undefined && e.event !== 'offline')
                this.refuse(e.node, signer, reason);
            }
          }
          if (reason === undefined) this.inv.observe(e.node, e.event, e.body);
          else this.#reject(e.node, e.event, reason);
        }
        try {
          this.nodeKeys.flush();
        } catch (err) {
          this.log('warn', 'inventory: cannot record new node keys', { error: String(err) });
        }
      })
      .catch((err: unknown) => {
        this.log('error', 'inventory: cannot check events', { error: String(err) });
      });
  }

  /** When each node's last rejection was reported: a flood of forgeries is one line a minute. */
  readonly #reported = new Map<string, number>();

  #reject(node: string, event: string, reason: string): void {
    this.log('warn', 'inventory: event rejected', { node, event, reason });
    const now = Date.now();
    if (now - (this.#reported.get(node) ?? 0) < 60_000) return;
    if (this.#reported.size > 10_000) this.#reported.clear();
    this.#reported.set(node, now);
    this.reportError({
      method: `event ${event}`,
      messageId: 'none',
      fromNode: node,
      reason: `rejected: ${reason}`,
    });
  }
}

/**
 * Publishes `adm.evt.<node>.refused`, signed by central and naming the refused key: the node
 * that holds that key learns its events are refused (src/node/node.ts), the node that holds the
 * name ignores it. At most one a second for each name and key.
 */
function refuser(
  nc: NatsConnection,
  subjects: Subjects,
  identity: NodeContext['identity'],
): (node: string, publicKey: string, reason: string) => void {
  const last = new Map<string, number>();
  return (node, publicKey, reason) => {
    const now = Date.now();
    const key = `${node} ${publicKey}`;
    if (now - (last.get(key) ?? 0) < 1000 || nc.isClosed()) return;
    if (last.size > 10_000) last.clear();
    last.set(key, now);
    const subject = subjects.event(node, 'refused');
    nc.publish(
      subject,
      JSON.stringify(signEvent(subject, { node, publicKey, reason, at: now }, identity)),
    );
  };
}

function subscribe(
  nc: NatsConnection,
  subjects: Subjects,
  inv: Inventory,
  trust: TrustLookup,
  log: NodeContext['options']['log'],
  nodeKeys: NodeKeys,
  reportError: NodeContext['reportError'],
  identity: NodeContext['identity'],
): Subscription[] {
  const checker = new EventChecker(
    inv,
    nodeKeys,
    log,
    reportError,
    refuser(nc, subjects, identity),
  );
  const events = nc.subscribe(subjects.eventSubscription(), {
    callback: guarded(log, 'inventory', (msg) => {
      const parsed = subjects.parse(msg.subject);
      if (parsed?.kind !== 'event') return;
      let body: EventBody;
      try {
        // Limits first: facts are kept, written and served, so they must be walkable.
        body = parseJsonBytes(msg.data, 'event') as EventBody;
      } catch (e) {
        log('warn', 'inventory: event refused', { subject: msg.subject, error: String(e) });
        return;
      }
      if (body === null || typeof body !== 'object' || body.node !== parsed.node) return;
      // The central's own word that a node went quiet: already recorded (as `stale`).
      if (parsed.event === 'offline' && body.stale === true) return;
      // The central's own refusal of a node's key: not a node's word about itself.
      if (parsed.event === 'refused') return;
      checker.push(msg.subject, parsed.node, parsed.event, body);
    }),
  });
  const queries = nc.subscribe(subjects.central(INVENTORY_SERVICE), {
    callback: guarded(
      log,
      'inventory',
      (msg) => {
        let reply: InventoryReply;
        let q: InventoryQuery;
        try {
          q = (verifyRequest(msg.data, INVENTORY_SERVICE, trust).body ?? {}) as InventoryQuery;
        } catch (e) {
          log('warn', 'inventory: query refused', { error: String(e) });
          msg.respond(
            JSON.stringify({ ok: false, error: `inventory query refused: ${refusalText(e)}` }),
          );
          return;
        }
        try {
          reply = inv.query(q);
        } catch (e) {
          reply = { ok: false, error: `bad inventory query: ${String(e)}` };
          log('warn', 'inventory: bad query', { error: String(e) });
        }
        msg.respond(JSON.stringify(reply));
      },
      (e) => JSON.stringify({ ok: false, error: `bad inventory query: ${String(e)}` }),
    ),
  });
  return [events, queries];
}
