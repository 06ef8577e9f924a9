import { join } from 'node:path';
import { createInbox, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { NodeContext, NodeExtension } from '../node/extension.js';
import {
  checkFreshness,
  decodeEnvelope,
  encodeEnvelope,
  FileTrustStore,
  type Identity,
  type Message,
  newMessageId,
  type Subjects,
  signMessage,
  verifyMessage,
} from '../protocol/index.js';
import type { JobNodeView } from './job-view.js';
import { type Facts, matchesRecord, type WhereRecord } from './target.js';

// Live broadcast, amiral's model (seed 002): one signed REQCliCommand on `adm.all.REQCliCommand`
// with its filter in `where`; every connected node checks the filter against its own facts and
// answers on the reply subject `start` (it will run) or `noop` (it does not match), then
// `complete` with the output. Nothing is stored or retried: nodes that are not connected now are
// not reached (durable jobs are `admiral run` without --live).

export const LIVE_METHOD = 'REQCliCommand';

/** A node's answer, in amiral's response shape plus admiral's node name and state. */
export interface LiveResponse {
  readonly in_reply_to: string;
  /** The id of the run on the node (start and complete). */
  readonly uuid?: string;
  readonly hostname: string;
  readonly node: string;
  readonly status: 'start' | 'noop' | 'complete';
  /** complete: how the run ended (completed, failed, cancelled, …). */
  readonly state?: string;
  readonly output?: {
    readonly exit?: number;
    readonly short: string;
    readonly stderr?: string;
    readonly error?: string;
  };
}

export interface LiveExtensionOptions {
  /** This node's facts now (the facts extension's). */
  readonly facts: () => Facts;
}

const POLL_MS = 25;

/** The per-node half: listens to live broadcasts and answers start/noop/complete. */
export function liveExtension(options: LiveExtensionOptions): NodeExtension {
  let sub: Subscription | undefined;
  const seen = new Set<string>();
  let stopped = false;

  return {
    name: 'live',
    async start(ctx: NodeContext) {
      const { nc, subjects, options: node } = ctx;
      const trust = (key: string): boolean =>
        key === ctx.identity.publicKey ||
        new FileTrustStore(join(node.dataDir, 'trust.json')).has(key);
      sub = nc.subscribe(subjects.all(LIVE_METHOD), {
        callback: (err, m) => {
          if (err || !m.reply) return;
          const reply = m.reply;
          let msg: Message;
          try {
            const env = decodeEnvelope(m.data);
            verifyMessage(env, { has: trust });
            checkFreshness(env.msg);
            msg = env.msg;
          } catch (e) {
            node.log('warn', 'live broadcast refused', { error: String(e) });
            return;
          }
          if (seen.has(msg.id)) return;
          seen.add(msg.id);
          if (seen.size > 10_000) seen.clear();
          const facts = options.facts();
          const base = {
            in_reply_to: msg.id,
            hostname: typeof facts.hostname === 'string' ? facts.hostname : node.name,
            node: node.name,
          };
          let match: boolean;
          try {
            match = matchesRecord(msg.where ?? {}, facts);
          } catch {
            match = false;
          }
          if (!match) {
            nc.publish(reply, JSON.stringify({ ...base, status: 'noop' } satisfies LiveResponse));
            return;
          }
          // Run it as a message to itself: the executor's policy, timeout and process-group
          // handling apply, exactly as for a durable REQCliCommand.
          const submitted = ctx.services.submit([
            {
              toNode: node.name,
              method: 'REQCliCommand',
              methodArgs: msg.methodArgs ?? [],
              ...(msg.methodTimeout !== undefined && { methodTimeout: msg.methodTimeout }),
              replyMethod: 'REQNone',
              ttl: Math.max(1, Math.ceil((msg.expiresAt - Date.now()) / 1000)),
            },
          ]);
          const uuid = submitted.accepted[0];
          if (uuid === undefined) {
            const error = submitted.rejected.flatMap((r) => r.errors).join('; ');
            nc.publish(
              reply,
              JSON.stringify({
                ...base,
                status: 'complete',
                state: 'rejected',
                output: { short: '', error },
              } satisfies LiveResponse),
            );
            return;
          }
          nc.publish(
            reply,
            JSON.stringify({ ...base, uuid, status: 'start' } satisfies LiveResponse),
          );
          const poll = (): void => {
            if (stopped) return;
            const st = ctx.services.status(uuid);
            if (!st || st.state === 'pending' || st.state === 'delivered') {
              setTimeout(poll, POLL_MS);
              return;
            }
            const r = (st.result ?? {}) as { exitCode?: number; output?: string; stderr?: string };
            nc.publish(
              reply,
              JSON.stringify({
                ...base,
                uuid,
                status: 'complete',
                state: st.state,
                output: {
                  ...(typeof r.exitCode === 'number' && { exit: r.exitCode }),
                  short: r.output ?? '',
                  ...(r.stderr && { stderr: r.stderr }),
                  ...(st.error !== undefined && { error: st.error }),
                },
              } satisfies LiveResponse),
            );
          };
          setTimeout(poll, POLL_MS);
        },
      });
      await nc.flush();
    },
    async stop() {
      stopped = true;
      sub?.unsubscribe();
    },
  };
}

export interface LiveRunOptions {
  readonly args: readonly string[];
  /** The filter (`{}` matches every node). */
  readonly where: WhereRecord;
  /** How long to collect start/noop acknowledgements, in ms. */
  readonly discoveryTimeoutMs: number;
  /** Seconds the command may run on each node. */
  readonly methodTimeout: number;
  /** Extra wait for results past the method timeout, in ms; default 5000. */
  readonly graceMs?: number;
  /** Called when the acknowledgement window closes. */
  readonly onAcknowledged?: (positive: number, total: number) => void;
  readonly fromNode?: string;
}

export interface LiveRunReport {
  readonly id: string;
  /** Nodes that answered start. */
  readonly started: readonly string[];
  /** Nodes that answered noop. */
  readonly noop: readonly string[];
  /** Every complete response. */
  readonly responses: readonly LiveResponse[];
  /** One per started node: its end state, did-not-answer when no complete came. */
  readonly nodes: readonly JobNodeView[];
  readonly elapsedMs: number;
}

/** The controller half: broadcasts, collects acknowledgements, then the results. */
export async function runLive(
  nc: NatsConnection,
  subjects: Subjects,
  identity: Identity,
  options: LiveRunOptions,
): Promise<LiveRunReport> {
  const t0 = performance.now();
  const now = Date.now();
  const ttlMs = options.discoveryTimeoutMs + options.methodTimeout * 1000 + 60_000;
  const msg: Message = {
    id: newMessageId(now),
    fromNode: options.fromNode ?? 'admiral-cli',
    where: options.where,
    method: LIVE_METHOD,
    methodArgs: [...options.args],
    methodTimeout: options.methodTimeout,
    createdAt: now,
    expiresAt: now + ttlMs,
  };
  const inbox = createInbox();
  const started = new Map<string, LiveResponse>();
  const noop = new Set<string>();
  const complete = new Map<string, LiveResponse>();
  let discovering = true;
  let wake: (() => void) | undefined;
  const sub = nc.subscribe(inbox, {
    callback: (err, m) => {
      if (err) return;
      let r: LiveResponse;
      try {
        r = JSON.parse(Buffer.from(m.data).toString('utf8')) as LiveResponse;
      } catch {
        return;
      }
      if (r.in_reply_to !== msg.id || typeof r.node !== 'string') return;
      if (r.status === 'noop') noop.add(r.node);
      else if (r.status === 'start') {
        // A start after the window closed is not counted: the operator was told N/M already.
        if (discovering) started.set(r.node, r);
      } else if (r.status === 'complete') {
        if (!started.has(r.node) && discovering) started.set(r.node, r);
        complete.set(r.node, r);
        if (!discovering && [...started.keys()].every((n) => complete.has(n))) wake?.();
      }
    },
  });
  try {
    await nc.flush();
    nc.publish(subjects.all(LIVE_METHOD), encodeEnvelope(signMessage(msg, identity), 'none'), {
      reply: inbox,
    });
    await new Promise((r) => setTimeout(r, options.discoveryTimeoutMs));
    discovering = false;
    options.onAcknowledged?.(started.size, started.size + noop.size);
    const pending = (): boolean => [...started.keys()].some((n) => !complete.has(n));
    if (pending()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.methodTimeout * 1000 + (options.graceMs ?? 5000));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    sub.unsubscribe();
  }
  const nodes: JobNodeView[] = [...started.keys()].sort().map((node) => {
    const r = complete.get(node);
    if (!r) {
      return { node, state: 'did-not-answer', error: 'answered start but sent no result in time' };
    }
    const out = r.output;
    const state = (r.state ?? 'completed') as JobNodeView['state'];
    return {
      node,
      state: state === 'completed' && out?.exit !== undefined && out.exit !== 0 ? 'failed' : state,
      ...(out?.exit !== undefined && { exitCode: out.exit }),
      ...(out?.short !== undefined && { output: out.short }),
      ...(out?.stderr !== undefined && { stderr: out.stderr }),
      ...(out?.error !== undefined && { error: out.error }),
      ...(r.uuid !== undefined && { messageId: r.uuid }),
    };
  });
  return {
    id: msg.id,
    started: [...started.keys()].sort(),
    noop: [...noop].sort(),
    responses: [...complete.values()],
    nodes,
    elapsedMs: performance.now() - t0,
  };
}
