import { InvalidArgumentError } from 'commander';

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Parses "500ms", "10s", "10m", "1h", "2d" or a bare number of seconds; returns seconds. */
export function parseDuration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`expected a duration like 30s, 10m or 1h, got "${value}"`);
  return Number(m[1]) * UNITS[m[2] ?? 's']!;
}
