/**
 * Delay before the next delivery attempt: `baseMs` doubled for each attempt already made, capped
 * at `maxMs`, then spread by ±`jitter` (a fraction; config `retry.jitter`, default 0.2) so a fleet
 * that lost its broker does not retry in step.
 */
export function retryDelay(
  attempts: number,
  baseMs: number,
  maxMs: number,
  jitter = 0.2,
  random = Math.random,
): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempts, 30)));
  const spread = exp * jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(exp + spread));
}

/** How a persistent broker connection spaces its reconnect attempts. */
export interface ReconnectSchedule {
  /** Wait after the first failed attempt; default 250 ms. */
  readonly firstMs?: number;
  /** Longest wait between attempts (config `broker.reconnectWait`). */
  readonly maxMs: number;
  /** Growth per failed attempt; default 1.5. */
  readonly factor?: number;
  /** Spread, a fraction both ways; default 0.2. */
  readonly jitter?: number;
  /** Random extra wait of up to this many ms, never more than the wait itself (Steward's jitter). */
  readonly extraMs?: number;
}

/** First wait of the reconnect schedule: a broker back within a second is found within ~0.5 s. */
export const RECONNECT_FIRST_MS = 250;

/**
 * Wait before the next reconnect attempt after `failures` failed ones in a row: `firstMs` grown by
 * `factor` per failure up to `maxMs`, spread by ±`jitter`, plus a random extra of up to `extraMs`
 * (at most the wait itself, so early attempts stay early). A fleet that lost its broker finds it
 * again within a fraction of a second of its return and does not come back in step.
 */
export function reconnectDelay(
  failures: number,
  schedule: ReconnectSchedule,
  random = Math.random,
): number {
  const first = schedule.firstMs ?? RECONNECT_FIRST_MS;
  const factor = schedule.factor ?? 1.5;
  const grown = first * factor ** Math.max(0, Math.min(failures, 60));
  const wait = Math.min(schedule.maxMs, grown);
  const spread = wait * (schedule.jitter ?? 0.2) * (random() * 2 - 1);
  const extra = Math.min(schedule.extraMs ?? 0, wait) * random();
  return Math.max(0, Math.round(wait + spread + extra));
}
