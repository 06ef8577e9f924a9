import { InvalidArgumentError } from 'commander';

/** Commander parser for a TCP port (0 to 65535). */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError(`expected a port from 0 to 65535, got "${value}"`);
  }
  return n;
}

/** Commander parser for a positive count (`--count 5`). */
export function parseCount(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new InvalidArgumentError(`expected a positive whole number, got "${value}"`);
  }
  return n;
}
