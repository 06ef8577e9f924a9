import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineRateLimiter } from '../../src/chat/rate-limiter.js';

test('lines go at once up to the burst, then no faster than the rate', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let now = 0;
  const sent: number[] = [];
  const limiter = new LineRateLimiter({ burst: 3, perSecond: 2, maxQueued: 100 }, () => now);
  for (let i = 0; i < 10; i++) limiter.push(() => sent.push(now));
  assert.equal(sent.length, 3, 'the burst');
  for (let ms = 0; ms < 5000; ms += 100) {
    now += 100;
    t.mock.timers.tick(100);
  }
  assert.equal(sent.length, 10);
  // After the burst, lines are at least 500 ms apart (2 a second).
  for (let i = 4; i < sent.length; i++) assert.ok(sent[i]! - sent[i - 1]! >= 500, `${sent}`);
  limiter.close();
});

test('a queue past maxQueued drops lines and counts them', () => {
  const limiter = new LineRateLimiter({ burst: 1, perSecond: 1, maxQueued: 5 }, () => 0);
  let sent = 0;
  const accepted = Array.from({ length: 20 }, () => limiter.push(() => sent++));
  assert.equal(sent, 1);
  assert.equal(accepted.filter(Boolean).length, 6, 'one sent, five queued');
  assert.equal(limiter.dropped, 14);
  limiter.close();
  assert.equal(
    limiter.push(() => sent++),
    false,
    'nothing after close',
  );
});

test('settings that would never send are refused', () => {
  assert.throws(() => new LineRateLimiter({ burst: 0, perSecond: 1, maxQueued: 1 }), /burst >= 1/);
  assert.throws(
    () => new LineRateLimiter({ burst: 1, perSecond: 0, maxQueued: 1 }),
    /perSecond > 0/,
  );
});
