import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHROMIUM_INSTALL_HINT, requireChromium } from './chromium.js';

// Browser tests skip without chromium on a developer's machine, and fail in CI, where a skipped
// browser test would hide that the dashboard went untested.

function withEnv(env: Record<string, string | undefined>, fn: () => void): void {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const missing = ['/nonexistent/chromium'];

test('a browser test fails with the install hint when chromium is missing in CI', () => {
  for (const env of [
    { CI: 'true', ADMIRAL_REQUIRE_CHROMIUM: undefined },
    { CI: undefined, ADMIRAL_REQUIRE_CHROMIUM: '1' },
  ]) {
    withEnv(env, () => {
      const skipped: string[] = [];
      assert.throws(
        () => requireChromium({ skip: (m?: string) => void skipped.push(m ?? '') }, missing),
        { message: CHROMIUM_INSTALL_HINT },
      );
      assert.deepEqual(skipped, []);
    });
  }
});

test('outside CI a browser test without chromium is skipped with the install hint', () => {
  withEnv({ CI: undefined, ADMIRAL_REQUIRE_CHROMIUM: undefined }, () => {
    const skipped: string[] = [];
    const bin = requireChromium({ skip: (m?: string) => void skipped.push(m ?? '') }, missing);
    assert.equal(bin, undefined);
    assert.deepEqual(skipped, [CHROMIUM_INSTALL_HINT]);
  });
});
