// Rate control of a job (AWS SSM Run Command's MaxConcurrency and MaxErrors, Choria's
// --batch-sleep): a limit is a count (`10`) or a share of the targeted nodes (`25%`).

/** A count or a percentage of the job's nodes, as given on the command line or in the API. */
export type RateLimit = { readonly count: number } | { readonly percent: number };

export class RateLimitSyntaxError extends Error {
  override readonly name = 'RateLimitSyntaxError';
  readonly code = 'ADMIRAL_RATE_LIMIT_SYNTAX';
  constructor(
    readonly what: string,
    readonly value: unknown,
  ) {
    super(
      `Expected \`${what}\` to be a positive whole number (10) or a percentage (25%), got ${JSON.stringify(value)}`,
    );
  }
}

/** Parses `N` or `N%` (N > 0; a percentage up to 100). */
export function parseRateLimit(value: string | number, what: string): RateLimit {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value > 0) return { count: value };
    throw new RateLimitSyntaxError(what, value);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(value);
  const n = m ? Number(m[1]) : Number.NaN;
  if (!m || !(n > 0)) throw new RateLimitSyntaxError(what, value);
  if (m[2] === '%') {
    if (n > 100) throw new RateLimitSyntaxError(what, value);
    return { percent: n };
  }
  if (!Number.isInteger(n)) throw new RateLimitSyntaxError(what, value);
  return { count: n };
}

/** The limit as a node count for a job of `total` nodes: a percentage rounds up, at least 1. */
export function resolveRateLimit(limit: RateLimit | undefined, total: number): number {
  if (limit === undefined) return 0;
  if ('count' in limit) return limit.count;
  return Math.max(1, Math.ceil((limit.percent * total) / 100));
}
