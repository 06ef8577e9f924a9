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
