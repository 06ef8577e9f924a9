// Go's duration text, which nats-server prints in /connz (`rtt`) and in its error messages.

/** Go's time.Duration.String() for a duration given in nanoseconds. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(Math.round(ns));
  const sign = neg ? '-' : '';
  // Fixed decimals with the trailing zeros (and a bare point) dropped: 1.500 → 1.5, 2.000 → 2.
  const frac = (v: number, digits: number): string =>
    v
      .toFixed(digits)
      .replace(/(\.\d*?)0+$/, '$1')
      .replace(/\.$/, '');
  if (n < 1000) return `${sign}${n}ns`;
  if (n < 1_000_000) return `${sign}${frac(n / 1000, 3)}µs`;
  if (n < 1_000_000_000) return `${sign}${frac(n / 1_000_000, 6)}ms`;
  let out = '';
  const h = Math.floor(n / 3_600_000_000_000);
  n -= h * 3_600_000_000_000;
  const m = Math.floor(n / 60_000_000_000);
  n -= m * 60_000_000_000;
  if (h > 0) out += `${h}h`;
  if (h > 0 || m > 0) out += `${m}m`;
  return `${sign}${out}${frac(n / 1e9, 9)}s`;
}
