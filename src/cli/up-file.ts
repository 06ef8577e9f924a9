import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// `<dataDir>/up.json`: written by `admiral up` at each start, it marks a data dir as run by `up`
// (embedded broker + central in one process) and keeps the network flags it was started with, so
// `admiral install-service` writes a unit that starts `up` again the same way.

export const UP_FILE = 'up.json';

/** The flags `up` last started with in `dataDir`, or undefined when `up` never ran there. */
export function readUpArgs(dataDir: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(join(dataDir, UP_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = JSON.parse(text) as { args?: unknown };
  if (!Array.isArray(parsed.args) || !parsed.args.every((a) => typeof a === 'string')) {
    throw new Error(`${join(dataDir, UP_FILE)}: expected {"args": [strings]}, got ${text.trim()}`);
  }
  return parsed.args as string[];
}
