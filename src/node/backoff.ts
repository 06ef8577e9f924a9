/**
 * Delay before the next delivery attempt: `baseMs` doubled for each attempt already made, capped
 * at `maxMs`, then spread by ±25 % jitter so a fleet that lost its broker does not retry in step.
 */
export function retryDelay(
  attempts: number,
  baseMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(attempts, 30)));
  const jitter = exp * 0.25 * (random() * 2 - 1);
  return Math.max(0, Math.round(exp + jitter));
}
