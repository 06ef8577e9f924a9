import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

/** A fresh temporary data dir, removed after the test. */
export function tempDataDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'admiral-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A settable fake clock. */
export function fakeClock(start = 1_700_000_000_000): { now: () => number; set(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    set(ms: number) {
      t = ms;
    },
  };
}
