import { InvalidArgumentError } from 'commander';

/** Commander parser for a TCP port (0 to 65535). */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError(`expected a port from 0 to 65535, got "${value}"`);
  }
  return n;
}
