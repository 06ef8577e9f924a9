// Waiting on the node from inside a method: for a message this node sent to reach its terminal
// state (copy chunks), or for a running method to be gone (cancel). The node offers no events to
// methods, so both poll its services; the interval is short next to what they wait for.

import { sleep } from './output.js';
import type { NodeServices, SentStatus } from './types.js';

/** Outbox states after which a sent message changes no more. */
const LIVE_STATES: ReadonlySet<string> = new Set(['pending', 'delivered']);

export function isTerminal(status: SentStatus | undefined): boolean {
  return status !== undefined && !LIVE_STATES.has(status.state);
}

/**
 * Resolves with the terminal status of `id` (a message this node sent), or undefined when
 * `signal` aborts first.
 */
export async function waitForSent(
  services: NodeServices,
  id: string,
  signal: AbortSignal,
  pollMs = 5,
): Promise<SentStatus | undefined> {
  for (;;) {
    const status = services.status(id);
    if (isTerminal(status)) return status;
    if (signal.aborted) return undefined;
    await sleep(pollMs, signal);
  }
}

/** Resolves true once message `id` no longer runs on this node, false after `timeoutMs`. */
export async function waitUntilStopped(
  services: NodeServices,
  id: string,
  timeoutMs: number,
  pollMs = 20,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!services.running().some((r) => r.id === id)) return true;
    if (Date.now() > deadline) return false;
    await sleep(pollMs);
  }
}

/** The output text a completed message's reply carried (its outbox result summary). */
export function sentOutput(status: SentStatus): string {
  const result = status.result;
  if (typeof result === 'object' && result !== null && 'output' in result) {
    const output = (result as { output: unknown }).output;
    if (typeof output === 'string') return output;
  }
  return '';
}
