import { MessageExpiredError, MessageFromFutureError } from './errors.js';
import type { Message } from './message.js';

// Replay protection, first half: a message is only accepted between its createdAt (less the
// allowed clock skew) and its expiresAt. The second half is the receiver's inbox, which keeps
// every id it has seen at least until that id's expiresAt plus the skew, and re-ACKs duplicates
// without running them (DESIGN.md, "How a message travels").

/** Allowed difference between the sender's and the receiver's clocks (60 s; `trust.maxClockSkew`). */
export const DEFAULT_MAX_CLOCK_SKEW_MS = 60 * 1000;

export interface FreshnessOptions {
  /** Receiver's time, Unix ms (default `Date.now()`). */
  now?: number;
  /** Allowed clock difference in ms (default 60 s). */
  maxClockSkewMs?: number;
}

/** Throws `MessageExpiredError` or `MessageFromFutureError`; returns when the message is fresh. */
export function checkFreshness(
  msg: Pick<Message, 'id' | 'createdAt' | 'expiresAt'>,
  options: FreshnessOptions = {},
): void {
  const now = options.now ?? Date.now();
  const skew = options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
  if (msg.expiresAt <= now) throw new MessageExpiredError(msg.id, msg.expiresAt, now);
  if (msg.createdAt > now + skew) {
    throw new MessageFromFutureError(msg.id, msg.createdAt, now, skew);
  }
}

/** Until when (Unix ms) a receiver must remember an id to recognise a replay of it. */
export function dedupHorizon(
  msg: Pick<Message, 'expiresAt'>,
  maxClockSkewMs = DEFAULT_MAX_CLOCK_SKEW_MS,
): number {
  return msg.expiresAt + maxClockSkewMs;
}
