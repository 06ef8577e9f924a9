import type { Logger, LogLevel } from '../observability/logger.js';
import { logLine } from './lifecycle.js';

const RANK: Record<string, number> = {
  trace: 0,
  debug: 1,
  info: 2,
  warn: 3,
  error: 4,
  fatal: 5,
  silent: 6,
};

/** A logger that writes lines at `level` and above to stderr. */
export function stderrLogger(level: string): Logger {
  const min = RANK[level] ?? RANK.info!;
  return (lvl: LogLevel, msg, fields) => {
    if ((RANK[lvl] ?? 0) >= min) logLine(lvl, msg, fields);
  };
}
