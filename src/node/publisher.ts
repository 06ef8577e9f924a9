import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../observability/logger.js';
import type { NodeMetrics } from '../observability/metrics.js';
import { type AckFrame, decodeAck, type Subjects } from '../protocol/index.js';
import type { OutboxRecord, OutboxTerminalState } from '../store/outbox.js';
import type { Store } from '../store/store.js';
import { retryDelay } from './backoff.js';
import { type AckOutcome, RequestMux } from './request-mux.js';

/** What the publisher tells the node when a message it sent reached a terminal state. */
export type TerminalListener = (id: string, state: OutboxTerminalState, error?: string) => void;

export interface PublisherDeps {
  readonly store: Store;
  readonly subjects: Subjects;
  readonly connection: () => NatsConnection | undefined;
  /** Whether a method completes at its ACK (events, replies): nothing comes back for it. */
  readonly completesOnAck: (method: string, kind: OutboxRecord['kind']) => boolean;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number; readonly jitter?: number };
  readonly metrics: NodeMetrics;
  readonly log: Logger;
  readonly onTerminal: TerminalListener;
  /** Most deliveries waiting for an ACK at once; default MAX_IN_FLIGHT. */
  readonly maxInFlight?: number;
}

const TICK_MS = 200;
/**
 * How long an ACK waits to be written with others (`#deliveredLater`): long enough for most
 * results of a fleet job to come first (a 10,000-node job's come 0.5–1.5 s after their ACKs,
 * bench/fleet). A row whose reserved retry comes sooner is written then instead of resent.
 */
const DELIVERED_DELAY_MS = 2000;
/**
 * Default for `maxInFlight`. A full window waits for an ACK round trip before more go out; at 256
 * a 5,000-node job on central waited ~20 of them (bench/fleet). An unACKed delivery costs a map
 * entry and a timer; the receiver verifies and stores in batches, so a wide window only queues
 * at its end.
 */
const MAX_IN_FLIGHT = 2048;

/**
 * The sending half of the outbox (DESIGN.md, "How a message travels"): every pending message is
 * sent as a NATS request to its node and retried with backoff until the receiver ACKs (it stored
 * the message) or the message expires. An attempt is recorded before the request goes out, so a
 * crash mid-request leaves a message that is simply retried after the restart.
 */
export class Publisher {
  readonly #deps: PublisherDeps;
  readonly #inFlight = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #scheduled = false;
  #stopped = false;
  #mux: RequestMux | undefined;
  /** Answers (or their absence) waiting to be recorded together in one transaction. */
  #settled: Settled[] = [];
  #flushScheduled = false;
  /** A pass found more due messages than free slots: run again as slots free up. */
  #backlog = false;
  #deliveredTimer: NodeJS.Timeout | undefined;
  sent = 0;

  constructor(deps: PublisherDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
    this.wake();
  }

  /** Run a pass soon: a message was enqueued or a node came online. */
  wake(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#tick();
    });
  }

  /** A node's online event: everything pending for it is due now. */
  nodeOnline(node: string): void {
    if (this.#deps.store.outbox.retryNowFor(node) > 0) this.wake();
  }

  /** Records the answers already received, then stops sending (the store must still be open). */
  stop(): void {
    if (this.#stopped) return;
    this.#flush();
    this.#writeDelivered();
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#mux?.close();
    this.#mux = undefined;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  #tick(): void {
    if (this.#stopped) return;
    const { store, onTerminal, metrics, backoff } = this.#deps;
    const now = Date.now();
    // An ACKed message is not expired as undelivered for want of its deferred write.
    if (store.outbox.unwrittenDeliveredBy(now + TICK_MS)) this.#writeDelivered();
    for (const id of store.outbox.expireDue(now)) {
      const method = store.outbox.methodOf(id);
      if (method) metrics.messages.inc({ method, state: 'expired' });
      onTerminal(id, 'expired', 'not delivered before it expired');
    }
    for (const { id, error } of store.outbox.expireUnanswered(now)) {
      const method = store.outbox.methodOf(id);
      if (method) metrics.messages.inc({ method, state: 'expired' });
      onTerminal(id, 'expired', error);
    }
    const nc = this.#deps.connection();
    if (!nc || nc.isClosed()) return;
    const max = this.#deps.maxInFlight ?? MAX_IN_FLIGHT;
    const free = max - this.#inFlight.size;
    this.#backlog = free <= 0;
    if (free <= 0) return;
    // In-flight rows are reserved into the future, so few due rows are still in flight (only
    // when an ACK is late past its reservation): ask for a little more than the free slots, not
    // for the whole window (rows carry their envelopes; reading a whole window per pass showed in bench/fleet).
    const extra = Math.min(this.#inFlight.size, 8);
    const due = store.outbox.due(now, free + extra);
    const batch: OutboxRecord[] = [];
    let acked = false;
    for (const rec of due) {
      // Its ACK came and waits to be written: it is delivered, not due (written below).
      if (store.outbox.isDeliveredUnwritten(rec.id)) {
        acked = true;
        continue;
      }
      if (batch.length >= free) {
        this.#backlog = true;
        break;
      }
      if (!this.#inFlight.has(rec.id)) batch.push(rec);
    }
    if (acked) {
      this.#writeDelivered();
      this.#backlog = true; // the rows it skipped may hide due ones behind them
    }
    // Every row read was in flight: more may be due behind them.
    if (batch.length < free && due.length === free + extra && extra > 0) this.#backlog = true;
    if (batch.length === 0) return;
    // Reserve the next try of the whole batch in one commit before anything is sent: if an ACK
    // never comes (or the process dies mid-request), that is when the message is resent.
    const reserved = new Set(
      store.outbox.markAttempts(
        batch.map((rec) => ({
          id: rec.id,
          nextAttemptAt:
            now +
            rec.ackTimeoutMs +
            retryDelay(rec.attempts, backoff.baseMs, backoff.maxMs, backoff.jitter),
        })),
      ),
    );
    if (this.#mux?.nc !== nc) {
      this.#mux?.close();
      this.#mux = new RequestMux(nc);
    }
    const mux = this.#mux;
    for (const rec of batch) {
      if (!reserved.has(rec.id)) continue;
      this.#inFlight.add(rec.id);
      if (rec.attempts > 0) metrics.retries.inc({ method: rec.method });
      const started = performance.now();
      void mux
        .request(this.#deps.subjects.node(rec.toNode, rec.method), rec.envelope, rec.ackTimeoutMs)
        .then((outcome) => this.#settle({ rec, outcome, started }));
    }
  }

  #settle(settled: Settled): void {
    this.#settled.push(settled);
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  /** Records every answer that arrived in this turn of the event loop in one transaction. */
  #flush(): void {
    this.#flushScheduled = false;
    if (this.#stopped || this.#settled.length === 0) return;
    const batch = this.#settled;
    this.#settled = [];
    const { store, metrics, log, onTerminal } = this.#deps;
    const terminal: { rec: OutboxRecord; state: OutboxTerminalState; error?: string }[] = [];
    try {
      store.outbox.batch(() => {
        for (const s of batch) {
          const t = this.#record(s);
          if (t) terminal.push(t);
        }
      });
    } catch (err) {
      // Nothing was recorded: each message is resent at the attempt time reserved before it went.
      terminal.length = 0;
      log('error', 'cannot record delivery results; the messages will be resent', {
        count: batch.length,
        error: String(err),
      });
    }
    for (const s of batch) this.#inFlight.delete(s.rec.id);
    for (const t of terminal) {
      metrics.messages.inc({ method: t.rec.method, state: t.state });
      onTerminal(t.rec.id, t.state, t.error);
    }
    // Backlogged: refill once a useful number of slots is free, not for every answer (each pass
    // is a read and a commit).
    const max = this.#deps.maxInFlight ?? MAX_IN_FLIGHT;
    if (this.#backlog && max - this.#inFlight.size >= Math.ceil(max / 8)) this.wake();
  }

  /**
   * Records an ACK (the request is stored on its target; its result will come as a reply) a
   * little later, with others in one commit (Outbox.deliveredLater): most results of a fleet job
   * arrive within that time, and need no `delivered` write (bench/fleet).
   */
  #deliveredLater(rec: OutboxRecord): void {
    this.#deps.store.outbox.deliveredLater(rec.id, Date.now(), rec.expiresAt);
    if (this.#deliveredTimer !== undefined) return;
    this.#deliveredTimer = setTimeout(() => this.#writeDelivered(), DELIVERED_DELAY_MS);
    this.#deliveredTimer.unref();
  }

  #writeDelivered(): void {
    clearTimeout(this.#deliveredTimer);
    this.#deliveredTimer = undefined;
    if (this.#stopped) return;
    try {
      this.#deps.store.outbox.writeDelivered();
    } catch (err) {
      // Not recorded: the reserved next attempt resends them and their targets answer duplicate.
      this.#deps.log('error', 'cannot record delivered messages; they will be resent', {
        error: String(err),
      });
    }
  }

  /** One answer's effect on the outbox; the terminal state it set, if any. */
  #record({
    rec,
    outcome,
    started,
  }: Settled): { rec: OutboxRecord; state: OutboxTerminalState; error?: string } | undefined {
    const { store, metrics, log } = this.#deps;
    const attempt = rec.attempts + 1;
    let failure = 'bad ACK';
    if (outcome.kind === 'reply') {
      let ack: AckFrame | undefined;
      try {
        ack = decodeAck(outcome.data);
      } catch (err) {
        failure = `bad ACK: ${String((err as Error).message ?? err)}`;
      }
      if (ack !== undefined) {
        this.sent++;
        if (ack.status === 'rejected') {
          const error = ack.error ?? 'rejected by the receiver';
          return store.outbox.finish(rec.id, 'rejected', { error })
            ? { rec, state: 'rejected', error }
            : undefined;
        }
        metrics.ackLatency.observe({ method: rec.method }, (performance.now() - started) / 1000);
        if (this.#deps.completesOnAck(rec.method, rec.kind)) {
          return store.outbox.finish(rec.id, 'completed') ? { rec, state: 'completed' } : undefined;
        }
        this.#deliveredLater(rec);
        return undefined;
      }
    } else {
      // No responders means nobody subscribed: the node is offline. The attempt reserved before
      // sending stands (as a lost ACK would), and the node's online event makes it due at once.
      failure =
        outcome.kind === 'timeout'
          ? `no ACK within ${rec.ackTimeoutMs} ms`
          : outcome.kind === 'no-responders'
            ? 'node offline (no responders)'
            : outcome.error;
    }
    if (rec.maxRetries >= 0 && attempt > rec.maxRetries) {
      const error = `no ACK after ${attempt} attempt${attempt === 1 ? '' : 's'} (retries: ${rec.maxRetries})`;
      return store.outbox.finish(rec.id, 'expired', { error })
        ? { rec, state: 'expired', error }
        : undefined;
    }
    log('debug', 'delivery attempt failed', {
      id: rec.id,
      to: rec.toNode,
      attempt,
      reason: failure,
    });
    return undefined;
  }
}

interface Settled {
  readonly rec: OutboxRecord;
  readonly outcome: AckOutcome;
  /** performance.now() when the request went out. */
  readonly started: number;
}
