import {
  type ConnectionOptions,
  createInbox,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';

/** How a delivery attempt's request ended. */
export type AckOutcome =
  | { readonly kind: 'reply'; readonly data: Uint8Array }
  | { readonly kind: 'timeout' }
  /** Nobody subscribes to the subject: the node is offline (the server's 503 status). */
  | { readonly kind: 'no-responders' }
  | { readonly kind: 'failed'; readonly error: string };

interface Pending {
  readonly resolve: (outcome: AckOutcome) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Request/reply for the publisher's ACKs over one wildcard inbox subscription, as nats.js muxes
 * its own requests (`_INBOX.<nuid>.<token>`), but without what `nc.request` builds per call: a
 * `TimeoutError` and a `RequestError` with captured stacks and a `Promise.race`, which showed in
 * bench/messaging's profile. Outcomes are values, not errors: a timeout is the common case of an
 * offline node, not an exception.
 */
export class RequestMux {
  readonly nc: NatsConnection;
  readonly #prefix: string;
  readonly #sub: Subscription;
  readonly #pending = new Map<string, Pending>();
  #next = 0;

  constructor(nc: NatsConnection) {
    this.nc = nc;
    // The connection's own inbox prefix: a node whose permissions allow only `<prefix>.>` (set at
    // enrolment) must get its ACKs there too.
    this.#prefix = `${createInbox(inboxPrefixOf(nc))}.`;
    this.#sub = nc.subscribe(`${this.#prefix}*`, {
      callback: (err, msg) => {
        // A subscription error (permissions) reaches every request as its timeout.
        if (!err) this.#answer(msg);
      },
    });
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Publishes `data` to `subject` with a reply inbox; resolves with the answer or why none came. */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<AckOutcome> {
    const token = (this.#next++).toString(36);
    return new Promise<AckOutcome>((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(token);
        resolve({ kind: 'timeout' });
      }, timeoutMs);
      this.#pending.set(token, { resolve, timer });
      try {
        this.nc.publish(subject, data, { reply: this.#prefix + token });
      } catch (err) {
        clearTimeout(timer);
        this.#pending.delete(token);
        resolve({ kind: 'failed', error: err instanceof Error ? err.message : String(err) });
      }
    });
  }

  #answer(msg: Msg): void {
    const token = msg.subject.slice(this.#prefix.length);
    const p = this.#pending.get(token);
    // A late answer to a request that already timed out: its retry will be ACKed again.
    if (p === undefined) return;
    this.#pending.delete(token);
    clearTimeout(p.timer);
    // nats-server's "no responders" status (ADR-4): an empty message with status 503.
    if (msg.data.length === 0 && msg.headers?.code === 503) p.resolve({ kind: 'no-responders' });
    else p.resolve({ kind: 'reply', data: msg.data });
  }

  /** Stops listening; requests still waiting end as `failed`. */
  close(): void {
    if (!this.nc.isClosed()) this.#sub.unsubscribe();
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.resolve({ kind: 'failed', error: 'the publisher stopped' });
    }
    this.#pending.clear();
  }
}

/** The inbox prefix the connection was made with (nats.js keeps its options on the connection). */
function inboxPrefixOf(nc: NatsConnection): string | undefined {
  return (nc as Partial<{ options: ConnectionOptions }>).options?.inboxPrefix;
}
