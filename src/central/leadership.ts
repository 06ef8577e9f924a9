import type { Subscription } from '@nats-io/transport-node';
import type { NodeContext, NodeExtension } from '../node/extension.js';
import type { JetStreamStateOptions } from '../store/jetstream/buckets.js';
import { DEFAULT_LEASE_MS, LeaderLease } from './leader.js';

// Which central leads (docs/operations.md, "Scaling out"). On SQLite a central is alone and always
// leads; on JetStream the centrals sharing the state hold an election on a KV lease (leader.ts).
// Duties that only the leader may do (running jobs) subscribe while it leads and unsubscribe when
// it stands down, so a request reaches the leader or, during a takeover, finds no responders and
// is asked again by the client (requestCentral waits up to `centralWait`).

export type CentralState =
  | { readonly backend: 'sqlite' }
  | ({
      readonly backend: 'jetstream';
      /** Who this central is among those sharing its name (the lease's holder); default its name. */
      readonly instance?: string;
    } & JetStreamStateOptions);

export interface LeaderView {
  /** The leading central's name; undefined while none does. */
  readonly leader: string | undefined;
  /** Whether the central that answers leads. */
  readonly leading: boolean;
  readonly backend: CentralState['backend'];
}

export class Leadership implements NodeExtension {
  readonly name = 'leadership';
  readonly #state: CentralState;
  readonly #leaseMs: number;
  readonly #listeners = new Set<(leading: boolean) => void>();
  #lease: LeaderLease | undefined;
  #self = '';
  #alone = false;

  constructor(state: CentralState, leaseMs = DEFAULT_LEASE_MS) {
    this.#state = state;
    this.#leaseMs = leaseMs;
  }

  get leading(): boolean {
    return this.#alone || (this.#lease?.leading ?? false);
  }

  view(): LeaderView {
    return {
      leader: this.#alone ? this.#self : this.#lease?.leader?.holder,
      leading: this.leading,
      backend: this.#state.backend,
    };
  }

  async start(ctx: NodeContext): Promise<void> {
    this.#self = (this.#state.backend === 'jetstream' && this.#state.instance) || ctx.options.name;
    if (this.#state.backend === 'sqlite') {
      this.#alone = true;
      this.#emit(true);
      return;
    }
    this.#lease = await LeaderLease.start(ctx.nc, {
      ...this.#state,
      holder: this.#state.instance ?? ctx.options.name,
      leaseMs: this.#leaseMs,
      log: ctx.options.log,
      onChange: (leading) => this.#emit(leading),
    });
  }

  #emit(leading: boolean): void {
    for (const fn of this.#listeners) fn(leading);
  }

  /** Calls `listener` now and on every change of this central's leadership; returns its removal. */
  watch(listener: (leading: boolean) => void): () => void {
    this.#listeners.add(listener);
    listener(this.leading);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Keeps the subscriptions `subscribe` makes while this central leads; returns the function that
   * ends them for good.
   */
  whileLeading(subscribe: () => readonly Subscription[]): () => void {
    let subs: readonly Subscription[] = [];
    const follow = (leading: boolean): void => {
      if (leading && subs.length === 0) subs = subscribe();
      if (!leading) {
        for (const s of subs) s.unsubscribe();
        subs = [];
      }
    };
    this.#listeners.add(follow);
    follow(this.leading);
    return () => {
      this.#listeners.delete(follow);
      follow(false);
    };
  }

  async stop(): Promise<void> {
    await this.#lease?.stop();
    this.#lease = undefined;
    this.#alone = false;
  }
}
