import type { MethodRegistry } from '../methods/registry.js';
import type {
  MethodContext,
  MethodHandler,
  MethodOutput,
  MethodRequest,
  NodeServices,
  RunningMethod,
} from '../methods/types.js';
import type { Logger } from '../observability/logger.js';
import {
  type Compression,
  createReply,
  decodeEnvelope,
  encodeEnvelope,
  type Identity,
  type Message,
  signMessage,
} from '../protocol/index.js';
import type { InboxRecord } from '../store/inbox.js';
import type { OutboxTerminalState } from '../store/outbox.js';
import type { Store } from '../store/store.js';
import type { MessageDefaults, NodeOptions } from './options.js';
import { expectedReplyOf, replyMethodFor, sentMessage } from './reply-method.js';

export interface ExecutorDeps {
  readonly nodeName: string;
  readonly dataDir: string;
  readonly store: Store;
  readonly registry: MethodRegistry;
  readonly identity: Identity;
  readonly compression: Compression;
  readonly defaults: MessageDefaults;
  readonly limits: NodeOptions['limits'];
  readonly maxConcurrent: number;
  /** The node's cap on a time to live, ms (config `messages.maxTtl`): bounds a reply's. */
  readonly maxTtlMs?: number;
  readonly log: Logger;
  /** A reply was enqueued: the publisher should run. */
  readonly onEnqueued: () => void;
  /** A message this node sent reached its terminal state through the reply that answered it. */
  readonly onFinished: (id: string, state: OutboxTerminalState) => void;
  /** REQToConsole's output. */
  readonly console: (line: string) => void;
  /** The node's services, given to every method. */
  readonly services: () => NodeServices;
  /** What the ACKs of settled replies wait for (Settler.hold); absent: nothing. */
  readonly holdSettled?: (requests: readonly string[]) => Promise<void> | undefined;
}

/** The sender's terminal state for the status a reply carries. */
function stateOf(status: Message['status']): OutboxTerminalState {
  switch (status) {
    case undefined:
    case 'ok':
      return 'completed';
    case 'cancelled':
      return 'cancelled';
    case 'interrupted':
      return 'interrupted';
    case 'noop':
      return 'noop';
    case 'expired':
      return 'expired';
    default:
      return 'failed';
  }
}

/**
 * Runs what the inbox holds: requests (the result goes back as a reply through the outbox, in
 * the same transaction that marks the inbox row done, so a crash cannot lose or double it),
 * streamed requests (one reply per chunk, then a final one), reply methods (files, console) and
 * events. At most `maxConcurrent` at once.
 */
export class Executor {
  readonly #deps: ExecutorDeps;
  readonly #running = new Map<string, { ctl: AbortController; info: RunningMethod }>();
  #scheduled = false;
  #stopped = false;
  /** Messages the receiver already decoded and verified, by id, until they are claimed. */
  readonly #decoded = new Map<string, Message>();
  /** Finished runs waiting to be committed together (group commit). */
  #completions: Completion[] = [];
  #flushScheduled = false;
  executed = 0;

  constructor(deps: ExecutorDeps) {
    this.#deps = deps;
  }

  wake(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  /**
   * New messages in the inbox, as the receiver decoded them: run them soon. Replies to a method
   * that does nothing (REQNone) are settled at once, in one commit for the batch: there is
   * nothing to run, so they skip the claim (a read and a write per row) and the run.
   */
  received(messages: readonly Message[]): void {
    const { registry } = this.#deps;
    let settled = false;
    for (const msg of messages) {
      const handler = registry.has(msg.method) ? registry.get(msg.method) : undefined;
      if (handler?.settlesOnly === true && msg.inReplyTo !== undefined && !this.#stopped) {
        this.executed++;
        this.#completions.push({
          inboxId: msg.id,
          msg,
          handler,
          out: { status: 'ok', data: '' },
          streamSeq: undefined,
          ctx: undefined,
        });
        settled = true;
      } else if (this.#decoded.size < DECODED_LIMIT) {
        // Bounded: past this the executor is far behind and decodes from the inbox row instead.
        this.#decoded.set(msg.id, msg);
      }
    }
    // Before the next pump could claim them (the inbox rows are still 'stored' until this commit;
    // if it fails they are claimed and run as usual).
    if (settled) this.#flush();
    this.wake();
  }

  /**
   * Whether `msg` is a reply to a method that does nothing (REQNone): all it does is settle the
   * request it answers, so the receiver settles it in its own commit (`settle`), with no inbox
   * row to store, claim and finish: one write for a job's reply instead of three (bench/fleet).
   */
  settlesOnly(msg: Message): boolean {
    const { registry } = this.#deps;
    return (
      msg.inReplyTo !== undefined &&
      !this.#stopped &&
      registry.has(msg.method) &&
      registry.get(msg.method).settlesOnly === true
    );
  }

  /**
   * Settles the request a settle-only reply answers, in the caller's transaction; whether the
   * reply was new (a second copy finds the request settled). `settled` reports it after the commit.
   */
  settle(msg: Message): { id: string; state: OutboxTerminalState } | 'new' | 'duplicate' {
    if (msg.inReplyTo === undefined || msg.final === false) return 'new'; // a chunk: nothing to settle
    const state = stateOf(msg.status);
    const finished = this.#deps.store.outbox.finish(msg.inReplyTo, state, {
      result: replySummary(msg),
      ...(msg.error && { error: msg.error }),
    });
    return finished ? { id: msg.inReplyTo, state } : 'duplicate';
  }

  /** What holds the ACKs of settled replies (ExecutorDeps.holdSettled). */
  hold(requests: readonly string[]): Promise<void> | undefined {
    return this.#deps.holdSettled?.(requests);
  }

  /** After the commit of `settle`d replies: count them, as run ones are. */
  settled(requests: readonly { id: string; state: OutboxTerminalState }[], replies: number): void {
    this.executed += replies;
    for (const f of requests) this.#deps.onFinished(f.id, f.state);
  }

  /** The messages running now. */
  running(): RunningMethod[] {
    return [...this.#running.values()].map((r) => r.info);
  }

  /** Cancels a running message: its method's signal aborts with reason 'cancelled'. */
  cancel(id: string): boolean {
    const run = this.#running.get(id);
    if (!run) return false;
    run.ctl.abort('cancelled');
    return true;
  }

  /**
   * Commits the results already in, then stops taking new work (what still runs is reported
   * interrupted or recovered on restart). The store must still be open.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#flush();
    this.#stopped = true;
    this.#decoded.clear();
  }

  #pump(): void {
    if (this.#stopped) return;
    const free = this.#deps.maxConcurrent - this.#running.size;
    if (free <= 0) return;
    this.#expire();
    for (const rec of this.#deps.store.inbox.claimRunnable(free)) void this.#execute(rec);
  }

  /**
   * Stored messages whose time to live ran out before they could start end 'expired', never run
   * (after a restart too). A request's sender is told by a reply with status `expired`, enqueued
   * in the same transaction, so it need not wait for its own answer-by time to say so.
   */
  #expire(): void {
    const { store, registry, log } = this.#deps;
    // Almost always none: no write transaction for that (this runs on every pump).
    if (!store.inbox.hasExpired(Date.now())) return;
    let expired: { id: string; method: string }[] = [];
    try {
      store.database.db.transaction(() => {
        expired = [];
        for (const rec of store.inbox.takeExpired(Date.now())) {
          expired.push({ id: rec.id, method: rec.method });
          const msg = this.#decoded.get(rec.id) ?? decodeQuietly(rec);
          this.#decoded.delete(rec.id);
          const handler = registry.has(rec.method) ? registry.get(rec.method) : undefined;
          const answers = handler?.kind === 'request' || handler?.kind === 'stream';
          if (msg === undefined || msg.inReplyTo !== undefined || !answers) continue;
          this.#enqueueReply(
            msg,
            {
              status: 'expired',
              data: '',
              error: `${this.#deps.nodeName} did not run it: it expired at ${new Date(rec.expiresAt).toISOString()} before it could start`,
            },
            handler.kind === 'stream' ? { seq: 0, final: true } : {},
          );
        }
      })();
    } catch (err) {
      // Rolled back: the rows stay 'stored' and unclaimable (past their expiry); the next pump tries again.
      log('error', 'cannot record expired messages', { error: String(err) });
      return;
    }
    for (const { id, method } of expired) {
      log('info', 'message expired before it ran', { id, method });
    }
  }

  /**
   * At start: settle what a previous process left running, all at once and alongside new work. A
   * method with `recover` gets its result back (a command whose process outlived the node, or one
   * that provably never started and now runs); an idempotent one runs again (DESIGN.md); anything
   * else is reported `interrupted`, never silently run twice. Resolves when all are settled.
   */
  async recover(records: readonly InboxRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.#deps.log('info', 'settling messages the previous process left running', {
      count: records.length,
    });
    await Promise.all(records.map((rec) => this.#recoverOne(rec)));
    // Settled means committed: do not leave the last results waiting for the next turn.
    this.#flush();
  }

  async #recoverOne(rec: InboxRecord): Promise<void> {
    const msg = this.#decode(rec);
    if (!msg) return;
    const handler = this.#deps.registry.has(msg.method)
      ? this.#deps.registry.get(msg.method)
      : undefined;
    const ctl = new AbortController();
    this.#running.set(msg.id, {
      ctl,
      info: { id: msg.id, method: msg.method, fromNode: msg.fromNode, startedAt: Date.now() },
    });
    const timer = handler ? this.#timeout(msg, handler, ctl) : undefined;
    const ctx = { ...this.#context(msg, ctl.signal, () => undefined), startBy: rec.expiresAt };
    // A request past its expiry is not run anew (a reply still is: it only records what came).
    const expired =
      (handler?.kind === 'request' || handler?.kind === 'stream') && rec.expiresAt <= Date.now();
    let out: MethodOutput | undefined;
    try {
      if (handler?.recover) out = await handler.recover(ctx);
      else if (handler?.idempotent && expired) {
        out = {
          status: 'expired',
          data: '',
          error: `${this.#deps.nodeName} stopped while ${msg.method} was running, and it expired at ${new Date(rec.expiresAt).toISOString()}; it was not run again`,
        };
      } else if (handler?.idempotent) out = await handler.run(ctx);
    } catch (err) {
      this.#deps.log('warn', 'recovery failed', { id: msg.id, error: String(err) });
    } finally {
      clearTimeout(timer);
      this.#running.delete(msg.id);
    }
    // Stopped meanwhile: the row stays running and the next start recovers it again.
    if (this.#stopped) return;
    this.#complete(
      rec.id,
      msg,
      handler,
      out ?? {
        status: 'interrupted',
        data: '',
        error: `${this.#deps.nodeName} stopped while ${msg.method} was running; it was not run again`,
      },
      undefined,
      // Cleaned up only once the result is committed (#flush), as a run is: a crash before the
      // commit must find the run directory again, not an empty place that reads as "never
      // started" and runs the command a second time.
      ctx,
    );
    this.wake();
  }

  /** After the commit: the handler may drop what it kept to recover the result. */
  #settled(handler: MethodHandler | undefined, ctx: MethodContext): void {
    handler?.settled?.(ctx).catch((err: unknown) => {
      this.#deps.log('warn', 'cleanup after a run failed', {
        id: ctx.request.id,
        error: String(err),
      });
    });
  }

  #decode(rec: InboxRecord): Message | undefined {
    const known = this.#decoded.get(rec.id);
    if (known !== undefined) {
      this.#decoded.delete(rec.id);
      return known;
    }
    try {
      return decodeEnvelope(rec.envelope).msg;
    } catch (err) {
      this.#deps.store.inbox.finish(rec.id, 'rejected', { error: String(err) });
      return undefined;
    }
  }

  #timeout(msg: Message, handler: MethodHandler, ctl: AbortController): NodeJS.Timeout | undefined {
    if (handler.kind === 'reply' || handler.kind === 'event') return undefined;
    const seconds =
      msg.methodTimeout && msg.methodTimeout > 0
        ? msg.methodTimeout
        : this.#deps.defaults.methodTimeout;
    return setTimeout(() => ctl.abort('timeout'), seconds * 1000);
  }

  #context(msg: Message, signal: AbortSignal, emit: (data: string) => void): MethodContext {
    const place = this.#placeOf(msg);
    const request: MethodRequest = {
      id: msg.id,
      fromNode: msg.fromNode,
      toNode: msg.toNode ?? this.#deps.nodeName,
      method: msg.method,
      methodArgs: msg.methodArgs ?? [],
      methodTimeout: msg.methodTimeout ?? 0,
      ...(msg.data !== undefined && { data: msg.data.join('') }),
      ...(place.directory !== undefined && { directory: place.directory }),
      ...(place.fileName !== undefined && { fileName: place.fileName }),
      ...(msg.status !== undefined && msg.status !== 'noop' && { replyStatus: msg.status }),
      ...(msg.inReplyTo !== undefined && { inReplyTo: msg.inReplyTo }),
      message: msg,
    };
    const log = this.#deps.log;
    return {
      request,
      nodeName: this.#deps.nodeName,
      dataDir: this.#deps.dataDir,
      limits: { ...this.#deps.limits, defaultMethodTimeout: this.#deps.defaults.methodTimeout },
      signal,
      emit: (chunk) => emit(chunk.data),
      console: this.#deps.console,
      log: (level, text, fields) => log(level, text, { id: msg.id, method: msg.method, ...fields }),
      services: this.#deps.services(),
    };
  }

  /**
   * Where a message's file goes. A reply is never trusted with it (docs/security.md): its
   * `directory` and `fileName` are those of the request this node stored in its outbox, and a
   * reply that names others has them ignored, and is logged.
   */
  #placeOf(msg: Message): { directory?: string; fileName?: string } {
    if (msg.inReplyTo === undefined) return { directory: msg.directory, fileName: msg.fileName };
    const row = this.#deps.store.outbox.get(msg.inReplyTo);
    const request = row === undefined ? undefined : sentMessage(row.envelope);
    const place = { directory: request?.directory, fileName: request?.fileName };
    if (
      (msg.directory !== undefined && msg.directory !== place.directory) ||
      (msg.fileName !== undefined && msg.fileName !== place.fileName)
    ) {
      this.#deps.log('warn', "a reply named a file other than its request's; ignored", {
        id: msg.id,
        from: msg.fromNode,
        inReplyTo: msg.inReplyTo,
        named: { directory: msg.directory, fileName: msg.fileName },
        used: place,
      });
    }
    return place;
  }

  async #execute(rec: InboxRecord): Promise<void> {
    const msg = this.#decode(rec);
    if (!msg) return;
    const handler = this.#deps.registry.get(msg.method);
    const ctl = new AbortController();
    this.#running.set(msg.id, {
      ctl,
      info: { id: msg.id, method: msg.method, fromNode: msg.fromNode, startedAt: Date.now() },
    });
    const timer = this.#timeout(msg, handler, ctl);
    let seq = 0;
    const emit = (data: string): void => {
      if (handler.kind !== 'stream') return;
      this.#enqueueReply(msg, { status: 'ok', data }, { seq: seq++, final: false });
    };
    const ctx = this.#context(msg, ctl.signal, emit);
    let out: MethodOutput;
    try {
      out = await handler.run(ctx);
    } catch (err) {
      out = { status: 'error', data: '', error: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
      this.#running.delete(msg.id);
    }
    this.executed++;
    // The node is closing (its store may be gone): the row stays running and is recovered at
    // the next start, as after a crash.
    if (this.#stopped) return;
    this.#complete(rec.id, msg, handler, out, handler.kind === 'stream' ? seq : undefined, ctx);
    this.wake();
  }

  /** Queues a result; results that finish in the same turn of the event loop commit together. */
  #complete(
    inboxId: string,
    msg: Message,
    handler: MethodHandler | undefined,
    out: MethodOutput,
    streamSeq?: number,
    ctx?: MethodContext,
  ): void {
    this.#completions.push({ inboxId, msg, handler, out, streamSeq, ctx });
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  /**
   * One transaction for every queued result; each result's reply is enqueued in the same
   * transaction that finishes its inbox row, so a crash cannot lose or double a reply. The batch
   * commits in one go; only if one of its results cannot be recorded is it done again, each
   * result in a savepoint of its own (a savepoint per result, always, cost two statements each).
   */
  #flush(): void {
    this.#flushScheduled = false;
    if (this.#stopped || this.#completions.length === 0) return;
    const batch = this.#completions;
    this.#completions = [];
    const { store, log } = this.#deps;
    const db = store.database.db;
    let committed: Completion[] = batch;
    let finished: { id: string; state: OutboxTerminalState }[] = [];
    try {
      db.transaction(() => {
        for (const c of batch) this.#commitOne(c, finished);
      })();
    } catch {
      // Rolled back as a whole: again, one savepoint each, so only what fails is left running.
      committed = [];
      finished = [];
      try {
        db.transaction(() => {
          for (const c of batch) {
            try {
              db.transaction(() => this.#commitOne(c, finished))();
              committed.push(c);
            } catch (err) {
              // Left 'running': the next start recovers it, as after a crash.
              log('error', 'cannot record a result', { id: c.msg.id, error: String(err) });
            }
          }
        })();
      } catch (err) {
        // Not even the commit went through: every one is recovered at the next start.
        log('error', 'cannot record results', { count: batch.length, error: String(err) });
        committed = [];
        finished = [];
      }
    }
    const at = Date.now();
    store.audit.appendMany(
      committed.map(({ msg, out }) => ({
        at,
        direction: 'in' as const,
        event: 'finished',
        id: msg.id,
        fromNode: msg.fromNode,
        toNode: msg.toNode ?? this.#deps.nodeName,
        method: msg.method,
        state: out.status,
        ...(out.error !== undefined && { error: out.error }),
      })),
    );
    for (const f of finished) this.#deps.onFinished(f.id, f.state);
    for (const c of committed) if (c.ctx) this.#settled(c.handler, c.ctx);
    this.wake();
  }

  #commitOne(
    { inboxId, msg, handler, out, streamSeq }: Completion,
    finished: { id: string; state: OutboxTerminalState }[],
  ): void {
    const { store } = this.#deps;
    const summary = {
      status: out.status,
      ...(out.exitCode !== undefined && { exitCode: out.exitCode }),
      ...(out.error !== undefined && { error: out.error }),
    };
    const answersRequest =
      handler === undefined || handler.kind === 'request' || handler.kind === 'stream';
    // A message that answers one this node sent settles that message's terminal state.
    if (msg.inReplyTo !== undefined && msg.final !== false) {
      const state = stateOf(msg.status);
      if (
        store.outbox.finish(msg.inReplyTo, state, {
          result: replySummary(msg),
          ...(msg.error && { error: msg.error }),
        })
      ) {
        finished.push({ id: msg.inReplyTo, state });
      }
    }
    if (answersRequest && !out.deferred) {
      this.#enqueueReply(msg, out, streamSeq === undefined ? {} : { seq: streamSeq, final: true });
    }
    const inboxState =
      out.status === 'interrupted' || out.status === 'cancelled' || out.status === 'expired'
        ? out.status
        : 'done';
    store.inbox.finish(inboxId, inboxState, summary);
  }

  #enqueueReply(msg: Message, out: MethodOutput, stream: { seq?: number; final?: boolean }): void {
    const { defaults, identity, store } = this.#deps;
    const base = createReply(msg, {
      fromNode: this.#deps.nodeName,
      ...(this.#deps.maxTtlMs !== undefined && { maxTtlMs: this.#deps.maxTtlMs }),
      data: [out.data],
      ...(stream.seq !== undefined && { seq: stream.seq }),
      ...(stream.final !== undefined && { final: stream.final }),
    });
    const reply: Message = {
      ...base,
      method: replyMethodFor(msg),
      status: out.status,
      ...(out.exitCode !== undefined && { exitCode: out.exitCode }),
      ...(out.error !== undefined && { error: out.error }),
      ...(out.stderr !== undefined && out.stderr !== '' && { stderr: out.stderr }),
    };
    const envelope = encodeEnvelope(signMessage(reply, identity), this.#deps.compression);
    store.outbox.enqueue({
      id: reply.id,
      kind: 'reply',
      toNode: reply.toNode ?? msg.fromNode,
      method: reply.method,
      envelope,
      expiresAt: reply.expiresAt,
      ackTimeoutMs: (reply.ACKTimeout ?? defaults.replyACKTimeout) * 1000,
      maxRetries: reply.retries ?? -1,
      expectedReply: expectedReplyOf(reply),
    });
    this.#deps.onEnqueued();
  }
}

/** The message in an inbox row, or undefined when its bytes no longer decode. */
function decodeQuietly(rec: InboxRecord): Message | undefined {
  try {
    return decodeEnvelope(rec.envelope).msg;
  } catch {
    return undefined;
  }
}

/** Past this many, the executor decodes messages from their inbox rows again. */
const DECODED_LIMIT = 4096;

/** A finished run waiting for its commit. */
interface Completion {
  readonly inboxId: string;
  readonly msg: Message;
  readonly handler: MethodHandler | undefined;
  readonly out: MethodOutput;
  readonly streamSeq: number | undefined;
  /** Given when the handler may clean up after the commit (`settled`). */
  readonly ctx: MethodContext | undefined;
}

/** What the sender keeps of a reply in its outbox row: status, exit code, output. */
function replySummary(reply: Message): Record<string, unknown> {
  return {
    status: reply.status ?? 'ok',
    ...(reply.exitCode !== undefined && { exitCode: reply.exitCode }),
    output: (reply.data ?? []).join(''),
    ...(reply.stderr !== undefined && { stderr: reply.stderr }),
    from: reply.fromNode,
  };
}
