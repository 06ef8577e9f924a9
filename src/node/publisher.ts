import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../observability/logger.js';
import type { NodeMetrics } from '../observability/metrics.js';
import { decodeAck, type Subjects } from '../protocol/index.js';
import type { OutboxRecord, OutboxTerminalState } from '../store/outbox.js';
import type { Store } from '../store/store.js';
import { retryDelay } from './backoff.js';

/** What the publisher tells the node when a message it sent reached a terminal state. */
export type TerminalListener = (id: string, state: OutboxTerminalState, error?: string) => void;

export interface PublisherDeps {
  readonly store: Store;
  readonly subjects: Subjects;
  readonly connection: () => NatsConnection | undefined;
  /** Whether a method completes at its ACK (events, replies): nothing comes back for it. */
  readonly completesOnAck: (method: string, kind: OutboxRecord['kind']) => boolean;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  readonly metrics: NodeMetrics;
  readonly log: Logger;
  readonly onTerminal: TerminalListener;
  /** Most deliveries waiting for an ACK at once; default 256. */
  readonly maxInFlight?: number;
}

const TICK_MS = 200;

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

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  #tick(): void {
    if (this.#stopped) return;
    const { store, onTerminal } = this.#deps;
    const now = Date.now();
    for (const id of store.outbox.expireDue(now)) {
      const rec = store.outbox.get(id);
      if (rec) this.#deps.metrics.messages.inc({ method: rec.method, state: 'expired' });
      onTerminal(id, 'expired', 'not delivered before it expired');
    }
    const nc = this.#deps.connection();
    if (!nc || nc.isClosed()) return;
    const max = this.#deps.maxInFlight ?? 256;
    const free = max - this.#inFlight.size;
    if (free <= 0) return;
    const due = store.outbox.due(now, free + this.#inFlight.size);
    let started = 0;
    for (const rec of due) {
      if (started >= free) break;
      if (this.#inFlight.has(rec.id)) continue;
      started++;
      void this.#attempt(nc, rec);
    }
  }

  async #attempt(nc: NatsConnection, rec: OutboxRecord): Promise<void> {
    const { store, subjects, backoff, metrics, log, onTerminal } = this.#deps;
    this.#inFlight.add(rec.id);
    const attempt = rec.attempts + 1;
    if (attempt > 1) metrics.retries.inc({ method: rec.method });
    // Reserve the next try before sending: if the ACK never comes, this is when it is resent.
    store.outbox.markAttempt(
      rec.id,
      Date.now() + rec.ackTimeoutMs + retryDelay(rec.attempts, backoff.baseMs, backoff.maxMs),
    );
    const started = performance.now();
    try {
      const reply = await nc.request(subjects.node(rec.toNode, rec.method), rec.envelope, {
        timeout: rec.ackTimeoutMs,
      });
      const ack = decodeAck(reply.data);
      this.sent++;
      if (ack.status === 'rejected') {
        const error = ack.error ?? 'rejected by the receiver';
        if (store.outbox.finish(rec.id, 'rejected', { error })) {
          metrics.messages.inc({ method: rec.method, state: 'rejected' });
          onTerminal(rec.id, 'rejected', error);
        }
        return;
      }
      metrics.ackLatency.observe({ method: rec.method }, (performance.now() - started) / 1000);
      if (this.#deps.completesOnAck(rec.method, rec.kind)) {
        if (store.outbox.finish(rec.id, 'completed')) {
          metrics.messages.inc({ method: rec.method, state: 'completed' });
          onTerminal(rec.id, 'completed');
        }
      } else {
        store.outbox.markDelivered(rec.id);
      }
    } catch (err) {
      // No responders means nobody subscribed: the node is offline. The attempt reserved above
      // stands (as a lost ACK would), and the node's online event makes it due at once.
      const noResponders = (err as { name?: string }).name === 'NoRespondersError';
      if (rec.maxRetries >= 0 && attempt > rec.maxRetries) {
        const error = `no ACK after ${attempt} attempt${attempt === 1 ? '' : 's'} (retries: ${rec.maxRetries})`;
        if (store.outbox.finish(rec.id, 'expired', { error })) {
          metrics.messages.inc({ method: rec.method, state: 'expired' });
          onTerminal(rec.id, 'expired', error);
        }
      } else {
        log('debug', 'delivery attempt failed', {
          id: rec.id,
          to: rec.toNode,
          attempt,
          reason: noResponders
            ? 'node offline (no responders)'
            : String((err as Error).message ?? err),
        });
      }
    } finally {
      this.#inFlight.delete(rec.id);
    }
  }
}
