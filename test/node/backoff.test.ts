import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Server } from '@nats-io/transport-node';
import { reconnectDelay, retryDelay } from '../../src/node/backoff.js';
import { reconnectHooks } from '../../src/node/broker-connection.js';

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

test('reconnect attempts start 250 ms apart, grow 1.5x per failure and stop growing at the maximum', () => {
  const none = (): number => 0.5; // no spread, half of the extra
  const schedule = { maxMs: 2000 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 40].map((f) => reconnectDelay(f, schedule, none)),
    [250, 375, 563, 844, 1266, 1898, 2000, 2000],
  );
});

test('the random extra of a reconnect wait is at most the wait itself, so the first retry stays within 0.55 s', () => {
  const most = (): number => 0.999_999;
  assert.ok(reconnectDelay(0, { maxMs: 2000, extraMs: 5000 }, most) <= 550);
  assert.equal(reconnectDelay(10, { maxMs: 2000, extraMs: 100, jitter: 0 }, most), 2100);
});

test('the reconnect hooks fix one wait per dial and grow it with the failures nats.js counts', () => {
  const none = (): number => 0.5;
  const hooks = reconnectHooks({ maxMs: 2000 }, none);
  const dial = (reconnects: number, didConnect = true): number => {
    assert.equal(hooks.reconnectToServer([server(reconnects, didConnect)], null), null);
    // Asked on every turn of nats.js's dial loop: the same wait until the next dial.
    const waits = [hooks.reconnectDelayHandler(), hooks.reconnectDelayHandler()];
    assert.equal(waits[0], waits[1]);
    return waits[0]!;
  };
  assert.deepEqual([dial(0), dial(1), dial(2), dial(9)], [250, 375, 563, 2000]);
  // A connection resets nats.js's count: the next outage starts short again.
  assert.equal(dial(0), 250);
  // Before a first connection nats.js counts nothing (waitOnFirstConnect): the hooks do.
  const first = reconnectHooks({ maxMs: 2000 }, none);
  const waits = [0, 1, 2].map(() => {
    first.reconnectToServer([server(0, false)], null);
    return first.reconnectDelayHandler();
  });
  assert.deepEqual(waits, [250, 375, 563]);
});

function server(reconnects: number, didConnect: boolean): Server {
  return {
    hostname: '127.0.0.1',
    port: 4222,
    listen: '127.0.0.1:4222',
    src: 'nats://127.0.0.1:4222',
    tlsName: '',
    reconnects,
    lastConnect: 0,
    gossiped: false,
    didConnect,
  };
}
