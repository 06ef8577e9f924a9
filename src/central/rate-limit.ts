// Token buckets per source address, and one for everyone: a discovery flood (or a spoofed one
// aimed at a victim) costs the central a map lookup per packet and gets few answers.

interface Bucket {
  tokens: number;
  at: number;
}

export interface RateLimitOptions {
  /** Tokens added per second, per source. */
  readonly perSecond: number;
  /** Most tokens a source can save up; default `perSecond`. */
  readonly burst?: number;
  /** Tokens per second for all sources together; default 20 × perSecond. */
  readonly globalPerSecond?: number;
  /** Sources remembered; beyond it the idle ones are forgotten; default 10000. */
  readonly maxSources?: number;
}

export class RateLimiter {
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #maxSources: number;
  readonly #global: Bucket;
  readonly #globalPerSecond: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: RateLimitOptions) {
    this.#perSecond = options.perSecond;
    this.#burst = options.burst ?? Math.max(1, options.perSecond);
    this.#globalPerSecond = options.globalPerSecond ?? options.perSecond * 20;
    this.#maxSources = options.maxSources ?? 10_000;
    this.#global = { tokens: this.#globalPerSecond, at: 0 };
  }

  /** Takes a token for `source` (and the global bucket); false when either is empty. */
  allow(source: string, now = Date.now()): boolean {
    return this.take(source, now) === 'ok';
  }

  /** `allow`, saying which bucket was empty: the source's own, or the one for everyone. */
  take(source: string, now = Date.now()): 'ok' | 'source' | 'global' {
    let b = this.#buckets.get(source);
    if (b === undefined) {
      if (this.#buckets.size >= this.#maxSources) this.#forgetIdle(now);
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(source, b);
    }
    refill(b, now, this.#perSecond, this.#burst);
    refill(this.#global, now, this.#globalPerSecond, this.#globalPerSecond);
    if (b.tokens < 1) return 'source';
    if (this.#global.tokens < 1) return 'global';
    b.tokens -= 1;
    this.#global.tokens -= 1;
    return 'ok';
  }

  /** Sources currently remembered. */
  get size(): number {
    return this.#buckets.size;
  }

  #forgetIdle(now: number): void {
    for (const [k, b] of this.#buckets) {
      refill(b, now, this.#perSecond, this.#burst);
      if (b.tokens >= this.#burst) this.#buckets.delete(k);
    }
    // Everyone is active (a flood from many addresses): start over rather than grow without bound.
    if (this.#buckets.size >= this.#maxSources) this.#buckets.clear();
  }
}

function refill(b: Bucket, now: number, perSecond: number, burst: number): void {
  const elapsed = Math.max(0, now - b.at) / 1000;
  b.tokens = Math.min(burst, b.tokens + elapsed * perSecond);
  b.at = now;
}
