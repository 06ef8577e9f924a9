import { MessageExpiredError, MessageFromFutureError } from './errors.js';
import { DEFAULT_MAX_TTL_SECONDS, type Message } from './message.js';

// Replay protection, first half: a message is only accepted between its createdAt (less the
// allowed clock skew) and its capped expiry: its expiresAt, but never later than createdAt plus
// the maximum time to live, whatever the sender wrote. The second half is the receiver's inbox,
// which keeps every id it has seen until that capped expiry plus the skew, and re-ACKs
// duplicates without running them (DESIGN.md, "How a message travels"). The cap is what makes
// the replay cache finite: an id it has forgotten can only come back already expired.

/** Allowed difference between the sender's and the receiver's clocks (60 s; `trust.maxClockSkew`). */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 60 * 1000;
/** Longest time to live a message is given, counted from its createdAt (7 days). */
export const DEFAULT_MAX_TTL_MS = DEFAULT_MAX_TTL_SECONDS * 1000;

export interface FreshnessOptions {
  /** Receiver's time, Unix ms (default `Date.now()`). */
  now?: number;
  /** Allowed clock difference in ms (default 60 s). */
  maxClockSkewMs?: number;
  /** Longest time to live in ms from createdAt (default 7 days). */
  maxTtlMs?: number;
}

/** When the message expires for a receiver: its expiresAt, capped at createdAt + maxTtlMs. */
export function cappedExpiry(
  msg: Pick<Message, 'createdAt' | 'expiresAt'>,
  maxTtlMs = DEFAULT_MAX_TTL_MS,
): number {
  return Math.min(msg.expiresAt, msg.createdAt + maxTtlMs);
}

/** Throws `MessageExpiredError` or `MessageFromFutureError`; returns when the message is fresh. */
export function checkFreshness(
  msg: Pick<Message, 'id' | 'createdAt' | 'expiresAt'>,
  options: FreshnessOptions = {},
): void {
  const now = options.now ?? Date.now();
  const skew = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  const maxTtlMs = options.maxTtlMs ?? DEFAULT_MAX_TTL_MS;
  const expiresAt = cappedExpiry(msg, maxTtlMs);
  if (expiresAt <= now) {
    const capped = expiresAt < msg.expiresAt ? maxTtlMs : undefined;
    throw new MessageExpiredError(msg.id, expiresAt, now, capped);
  }
  if (msg.createdAt > now + skew) {
    throw new MessageFromFutureError(msg.id, msg.createdAt, now, skew);
  }
}

/** Until when (Unix ms) a receiver must remember an id to recognise a replay of it. */
export function dedupHorizon(
  msg: Pick<Message, 'createdAt' | 'expiresAt'>,
  maxClockSkewMs = DEFAULT_MAX_CLOCK_SKEW_MS,
  maxTtlMs = DEFAULT_MAX_TTL_MS,
): number {
  return cappedExpiry(msg, maxTtlMs) + maxClockSkewMs;
}
