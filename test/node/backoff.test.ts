import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryDelay } from '../../src/node/backoff.js';

test('the retry delay doubles per attempt up to the maximum', () => {
  const none = (): number => 0.5; // no spread
  assert.equal(retryDelay(0, 500, 30_000, 0.2, none), 500);
  assert.equal(retryDelay(1, 500, 30_000, 0.2, none), 1000);
  assert.equal(retryDelay(3, 500, 30_000, 0.2, none), 4000);
  assert.equal(retryDelay(20, 500, 30_000, 0.2, none), 30_000);
});

test('the retry delay is spread by the configured jitter fraction, both ways', () => {
  assert.equal(
    retryDelay(1, 500, 30_000, 0.2, () => 0),
    800,
  );
  assert.equal(
    retryDelay(1, 500, 30_000, 0.2, () => 1),
    1200,
  );
  assert.equal(
    retryDelay(1, 500, 30_000, 0, () => 1),
    1000,
  );
});
