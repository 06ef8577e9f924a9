import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { DEFAULT_MAX_CLOCK_SKEW_MS } from '../../src/protocol/freshness.js';

// The clock-skew limit is one figure: the protocol's default, the config's default and every
// page of the docs that names it agree.

const doc = (name: string): string =>
  readFileSync(new URL(`../../../docs/${name}`, import.meta.url), 'utf8');

test('the clock-skew limit is the same figure in the protocol, the config and the docs', () => {
  const configured = loadConfig({ flags: {}, env: {} }).config.trust.maxClockSkew;
  assert.equal(configured * 1000, DEFAULT_MAX_CLOCK_SKEW_MS, 'config default = protocol default');
  const seconds = DEFAULT_MAX_CLOCK_SKEW_MS / 1000;
  for (const name of ['security.md', 'message-format.md', 'configuration.md']) {
    const text = doc(name);
    const lines = text.split('\n').filter((l) => /skew|in the future/i.test(l));
    assert.ok(lines.length > 0, `${name} names the clock-skew limit`);
    assert.ok(
      text.includes(`${seconds} s`) || text.includes(`\`${seconds}\``),
      `${name} gives the limit as ${seconds} s`,
    );
    for (const line of lines) {
      assert.doesNotMatch(line, /\b\d+ min(ute)?s?\b/, `${name} gives another figure: ${line}`);
    }
  }
});
