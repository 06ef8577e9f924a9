import { performance } from 'node:perf_hooks';
import { createInbox, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { type Identity, parseJsonBytes, type Subjects } from '../protocol/index.js';
import { InventoryQueryError, inventoryNames } from './inventory-client.js';
import {
  type Facts,
  isEmptyTarget,
  matchesRecord,
  type Target,
  type WhereRecord,
  whereToRecord,
} from './target.js';

// `admiral ping`, Choria style: one plain NATS publish on `adm.ping` reaches every node at once;
// each node whose name and facts match answers the reply inbox with its name; the client collects
// answers until every expected node answered or the timeout ends. Expected nodes come from
// `--nodes` or from the central's inventory, so the ones that stay silent can be named.

/** The broadcast subject every node answers pings on: `<prefix>.ping`. */
export function pingSubject(subjects: Subjects): string {
  return `${subjects.prefix}.ping`;
}

/** A ping as broadcast. An empty object reaches every node. */
export interface PingRequest {
  /** Only these nodes answer (sent only for short lists; the client filters anyway). */
  readonly nodes?: readonly string[];
  /** Only nodes whose facts match answer (see `whereToRecord`). */
  readonly where?: WhereRecord;
}

/** A node's answer. */
export interface PingAnswer {
  readonly node: string;
}

/** Lists of at most this many names ride in the ping; longer ones are filtered by the client. */
const NODES_IN_REQUEST = 256;

export interface PingResponder {
  stop(): void;
}

/** Answers `adm.ping` for one node: silent when the ping's `nodes` or `where` leave it out. */
export function startPingResponder(
  nc: NatsConnection,
  subjects: Subjects,
  node: string,
  facts: () => Facts,
): PingResponder {
  const answer = JSON.stringify({ node } satisfies PingAnswer);
  const sub: Subscription = nc.subscribe(pingSubject(subjects), {
    callback: (err, msg) => {
      if (err || msg.reply === undefined || msg.reply === '') return;
      if (msg.data.length > 2) {
        let req: PingRequest;
        try {
          // Anyone may publish here, and a throw in this callback would end the process: a ping
          // that is not an object within the limits is not a ping.
          const v = parseJsonBytes(msg.data, 'ping');
          if (typeof v !== 'object' || v === null || Array.isArray(v)) return;
          req = v as PingRequest;
        } catch {
          return;
        }
        if (Array.isArray(req.nodes) && !req.nodes.includes(node)) return;
        try {
          if (req.where !== undefined && !matchesRecord(req.where, facts())) return;
        } catch {
          return; // a filter this node cannot read is not a match
        }
      }
      msg.respond(answer);
    },
  });
  return { stop: () => sub.unsubscribe() };
}

export interface PingOptions {
  /** Who is pinged; none: every node. */
  readonly target?: Target;
  /** How long to wait for answers, in ms; default 2000. Ends early once every expected node answered. */
  readonly timeoutMs?: number;
  /** Ask the central's inventory which nodes to expect (for `--all`, `--where`, no target); default true. */
  readonly useInventory?: boolean;
  /** Signs the inventory query (central answers keys it trusts); without it none is asked. */
  readonly identity?: Identity;
}

export interface PingReply {
  readonly node: string;
  /** Round trip in ms, from the broadcast to this node's answer. */
  readonly rttMs: number;
}

export interface PingReport {
  /** Answers in arrival order. */
  readonly replies: readonly PingReply[];
  /** Expected nodes that did not answer, sorted; empty when nothing was expected. */
  readonly missing: readonly string[];
  /** The nodes that were expected, sorted; undefined when no list was known. */
  readonly expected: readonly string[] | undefined;
  readonly stats: { readonly min: number; readonly avg: number; readonly max: number } | undefined;
  /** Wall time of the whole ping, inventory query included, in ms. */
  readonly elapsedMs: number;
  /** Why the expected list is missing, if it is. */
  readonly note?: string;
}

/** Pings the target (default: every node) and reports who answered and who did not. */
export async function pingFleet(
  nc: NatsConnection,
  subjects: Subjects,
  options: PingOptions = {},
): Promise<PingReport> {
  const started = performance.now();
  const target = options.target ?? {};
  const timeoutMs = options.timeoutMs ?? 2000;
  const where = target.where !== undefined && target.where.length > 0 ? target.where : undefined;
  const listed = target.nodes === undefined ? undefined : new Set(target.nodes);
  const request: PingRequest = {
    ...(target.nodes !== undefined &&
      target.nodes.length <= NODES_IN_REQUEST && { nodes: target.nodes }),
    ...(where !== undefined && { where: whereToRecord(where) }),
  };

  const replies: PingReply[] = [];
  const answered = new Set<string>();
  let expected: Set<string> | undefined;
  let note: string | undefined;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const complete = (): boolean =>
    expected !== undefined && [...expected].every((n) => answered.has(n));
  let waitingFor = 0;

  const inbox = createInbox();
  let sentAt = 0;
  const sub = nc.subscribe(inbox, {
    callback: (err, msg) => {
      if (err) return;
      const at = performance.now();
      let node: unknown;
      try {
        node = (JSON.parse(Buffer.from(msg.data).toString('utf8')) as Partial<PingAnswer>).node;
      } catch {
        return;
      }
      if (typeof node !== 'string' || answered.has(node)) return;
      if (listed !== undefined && !listed.has(node)) return;
      answered.add(node);
      replies.push({ node, rttMs: at - sentAt });
      if (expected?.has(node)) {
        waitingFor--;
        if (waitingFor <= 0) finish();
      }
    },
  });
  const timer = setTimeout(finish, timeoutMs);
  try {
    // The expected list comes from --nodes, or from the inventory, asked while the ping travels.
    const expecting: Promise<void> = (async () => {
      let names: string[] | undefined;
      if (listed !== undefined && where === undefined) names = [...listed];
      else if (options.useInventory === false) {
        // the caller does not want the expected list
      } else if (options.identity === undefined) {
        note = 'no identity to ask the inventory with; nodes that did not answer cannot be named';
      } else {
        try {
          names = await inventoryNames(nc, subjects, {
            identity: options.identity,
            ...(!isEmptyTarget(target) && { target }),
            timeoutMs,
          });
        } catch (err) {
          note =
            err instanceof InventoryQueryError
              ? `${err.message}; nodes that did not answer cannot be named`
              : String(err);
        }
      }
      if (names !== undefined) {
        expected = new Set(names);
        waitingFor = [...expected].filter((n) => !answered.has(n)).length;
        if (complete()) finish();
      }
    })();
    sentAt = performance.now();
    nc.publish(pingSubject(subjects), JSON.stringify(request), { reply: inbox });
    await done;
    await expecting.catch(() => undefined);
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  const rtts = replies.map((r) => r.rttMs);
  const stats =
    rtts.length === 0
      ? undefined
      : {
          min: Math.min(...rtts),
          avg: rtts.reduce((a, b) => a + b, 0) / rtts.length,
          max: Math.max(...rtts),
        };
  const exp = expected;
  return {
    replies,
    missing: exp === undefined ? [] : [...exp].filter((n) => !answered.has(n)).sort(),
    expected: exp === undefined ? undefined : [...exp].sort(),
    stats,
    elapsedMs: performance.now() - started,
    ...(note !== undefined && { note }),
  };
}
