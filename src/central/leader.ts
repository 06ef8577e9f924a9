import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import * as z from 'zod';
import type { Logger } from '../observability/logger.js';
import {
  isWrongRevision,
  type JetStreamStateOptions,
  openBucket,
} from '../store/jetstream/buckets.js';

// One leader among the centrals sharing state on JetStream: a lease on one KV key.
// - The bucket's max age is the lease: the server drops the key `leaseMs` after its last write, so
//   a leader that dies (kill -9, lost machine) lets go by itself, on the server's clock.
// - Taking the lease is a KV create (refused while the key holds a value); renewing it is an
//   update conditional on the revision this central last wrote (compare-and-set): a central that
//   lost the key cannot write over its successor.
// - A leader that cannot renew steps down `leaseMs` after it sent its last successful renewal,
//   which is no later than the server drops the key: two centrals never both believe they lead.
// Why not a JetStream-native mechanism: nats-server elects leaders for its own streams (Raft) but
// offers clients no election; the KV lease needs nothing beyond KV and works on every 2.9+ server.

export const LEADER_KEY = 'central';

/** ms a lease lasts without a renewal: a dead leader is replaced within about this. */
export const DEFAULT_LEASE_MS = 3000;

const LeaseSchema = z.strictObject({ holder: z.string().min(1), since: z.number().int() });
export type Lease = z.output<typeof LeaseSchema>;

export interface LeaderLeaseOptions {
  /** This central's name (what the others see as the leader). */
  readonly holder: string;
  /** ms the lease lasts without a renewal; renewals every third of it; default 3000. */
  readonly leaseMs?: number;
  readonly log?: Logger;
  /** Called on every change of this central's leadership. */
  readonly onChange?: (leading: boolean) => void;
}

export class LeaderLease {
  readonly #kv: KV;
  readonly #holder: string;
  readonly #leaseMs: number;
  readonly #log: Logger;
  readonly #onChange: (leading: boolean) => void;
  #revision = 0;
  #since = 0;
  #leadingUntil = 0;
  #leading = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #pending: Promise<void> = Promise.resolve();
  #leader: Lease | undefined;

  private constructor(kv: KV, options: LeaderLeaseOptions) {
    this.#kv = kv;
    this.#holder = options.holder;
    this.#leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.#log = options.log ?? (() => undefined);
    this.#onChange = options.onChange ?? (() => undefined);
  }

  /** Opens the lease bucket and campaigns at once; keeps campaigning until `stop`. */
  static async start(
    nc: NatsConnection,
    options: LeaderLeaseOptions & JetStreamStateOptions,
  ): Promise<LeaderLease> {
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    const kv = await openBucket(nc, 'leader', { ...options, ttlMs: leaseMs });
    const lease = new LeaderLease(kv, options);
    lease.#pending = lease.#tick();
    await lease.#pending;
    return lease;
  }

  /** True while this central holds the lease. */
  get leading(): boolean {
    return this.#leading && Date.now() < this.#leadingUntil;
  }

  /** The lease as last seen: who leads, since when (undefined while nobody does). */
  get leader(): Lease | undefined {
    return this.leading ? { holder: this.#holder, since: this.#since } : this.#leader;
  }

  #set(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    this.#log('info', leading ? 'this central leads' : 'this central stands by', {
      holder: this.#holder,
    });
    this.#onChange(leading);
  }

  async #tick(): Promise<void> {
    const sent = Date.now();
    try {
      if (this.#leading) await this.#renew(sent);
      else await this.#campaign(sent);
    } catch (err) {
      this.#log('warn', 'leader lease: JetStream did not answer', { error: String(err) });
    }
    // Without a renewal by then, the server may have dropped the key: step down first.
    if (this.#leading && Date.now() >= this.#leadingUntil) this.#set(false);
    if (!this.#stopped) {
      this.#timer = setTimeout(
        () => {
          this.#pending = this.#tick();
        },
        Math.max(50, this.#leaseMs / 3),
      );
      this.#timer.unref();
    }
  }

  #value(): string {
    return JSON.stringify({ holder: this.#holder, since: this.#since });
  }

  async #campaign(sent: number): Promise<void> {
    this.#since = sent;
    try {
      this.#revision = await this.#kv.create(LEADER_KEY, this.#value());
    } catch (err) {
      if (!isWrongRevision(err)) throw err;
      const e = await this.#kv.get(LEADER_KEY);
      const parsed = e?.operation === 'PUT' ? LeaseSchema.safeParse(e.json()) : undefined;
      this.#leader = parsed?.success ? parsed.data : undefined;
      return;
    }
    this.#leadingUntil = sent + this.#leaseMs;
    this.#set(true);
  }

  async #renew(sent: number): Promise<void> {
    try {
      this.#revision = await this.#kv.update(LEADER_KEY, this.#value(), this.#revision);
      this.#leadingUntil = sent + this.#leaseMs;
    } catch (err) {
      if (!isWrongRevision(err)) throw err;
      // Another central holds the key: the lease ran out before this renewal reached the server.
      this.#set(false);
    }
  }

  /** Stops campaigning; a leader hands the lease back so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#pending;
    if (!this.leading) return;
    this.#set(false);
    try {
      await this.#kv.delete(LEADER_KEY, { previousSeq: this.#revision });
    } catch (err) {
      // Lost or unreachable: the lease runs out by itself.
      this.#log('warn', 'leader lease: could not hand the lease back', { error: String(err) });
    }
  }
}
