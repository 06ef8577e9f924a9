// Flood control for the chat bridge: a token bucket in front of the IRC socket. IRC servers
// disconnect a client that sends faster than they allow ("Excess Flood"; RFC 1459 section 8.10
// describes the 2 s per line penalty most servers derive theirs from), so every line the bridge
// writes waits its turn here, and a queue that grows past `maxQueued` drops lines instead of
// falling ever further behind.

export interface RateLimitOptions {
  /** Lines that may go at once after a quiet spell; default 4. */
  readonly burst: number;
  /** Lines per second after the burst; default 1. */
  readonly perSecond: number;
  /** Lines waiting at most; more are dropped (and counted); default 50. */
  readonly maxQueued: number;
}

export const DEFAULT_RATE_LIMIT: RateLimitOptions = { burst: 4, perSecond: 1, maxQueued: 50 };

/** Sends queued lines no faster than the bucket allows. */
export class LineRateLimiter {
  private tokens: number;
  private last: number;
  private readonly queue: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private droppedCount = 0;
  private closed = false;

  constructor(
    private readonly options: RateLimitOptions = DEFAULT_RATE_LIMIT,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(options.burst >= 1) || !(options.perSecond > 0) || !(options.maxQueued >= 1)) {
      throw new RangeError(
        `Expected burst >= 1, perSecond > 0 and maxQueued >= 1, got ${JSON.stringify(options)}`,
      );
    }
    this.tokens = options.burst;
    this.last = now();
  }

  /** Lines dropped because the queue was full, since the start. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Lines waiting. */
  get queued(): number {
    return this.queue.length;
  }

  /** Queues `send`; false when the queue is full and it was dropped. */
  push(send: () => void): boolean {
    if (this.closed) return false;
    if (this.queue.length >= this.options.maxQueued) {
      this.droppedCount++;
      return false;
    }
    this.queue.push(send);
    this.drain();
    return true;
  }

  /** Forgets every waiting line (the connection they were for is gone). */
  clear(): void {
    this.queue.length = 0;
  }

  close(): void {
    this.closed = true;
    this.clear();
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(
      this.options.burst,
      this.tokens + ((t - this.last) / 1000) * this.options.perSecond,
    );
    this.last = t;
  }

  private drain(): void {
    if (this.timer !== undefined) return;
    this.refill();
    while (this.queue.length > 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.queue.shift()!();
    }
    if (this.queue.length > 0 && !this.closed) {
      const waitMs = Math.ceil(((1 - this.tokens) / this.options.perSecond) * 1000);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.drain();
      }, waitMs);
    }
  }
}
