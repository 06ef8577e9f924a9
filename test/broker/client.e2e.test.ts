// End to end with the official client: nats.js must not be able to tell the broker from nats-server.
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import {
  connect,
  headers,
  type NatsConnection,
  NoRespondersError,
  RequestError,
} from '@nats-io/transport-node';
import type { Broker, BrokerOptionsInput } from '../../src/broker/index.js';
import { natsClient, startBroker, waitFor } from './harness.js';

const start = (t: TestContext, options: BrokerOptionsInput = {}): Promise<Broker> =>
  startBroker(t, options);

const client = (_t: TestContext, broker: Broker, extra = {}): Promise<NatsConnection> =>
  natsClient(broker, extra);

function collect(nc: NatsConnection, subject: string, opts: { queue?: string; max?: number } = {}) {
  const got: string[] = [];
  const sub = nc.subscribe(subject, {
    ...opts,
    callback: (_e, m) => {
      got.push(`${m.subject}:${m.string()}`);
    },
  });
  return { got, sub };
}

describe('nats.js against the broker', () => {
  test('publish and subscribe with wildcards', async (t) => {
    const broker = await start(t);
    const a = await client(t, broker);
    const b = await client(t, broker);
    const star = collect(a, 'orders.*');
    const gt = collect(a, 'orders.>');
    await a.flush();
    b.publish('orders.new', 'one');
    b.publish('orders.eu.new', 'two');
    await b.flush();
    await waitFor(() => gt.got.length === 2, 'messages');
    assert.deepEqual(star.got, ['orders.new:one']);
    assert.deepEqual(gt.got, ['orders.new:one', 'orders.eu.new:two']);
  });

  test('request and reply, many in flight', async (t) => {
    const broker = await start(t);
    const svc = await client(t, broker);
    svc.subscribe('echo', {
      callback: (_e, m) => {
        m.respond(`re:${m.string()}`);
      },
    });
    await svc.flush();
    const nc = await client(t, broker);
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => nc.request('echo', String(i), { timeout: 2000 })),
    );
    assert.deepEqual(
      replies.map((r) => r.string()),
      Array.from({ length: 50 }, (_, i) => `re:${i}`),
    );
  });

  test('a request nobody listens to fails fast with NoRespondersError', async (t) => {
    const broker = await start(t);
    const nc = await client(t, broker);
    const started = Date.now();
    await assert.rejects(nc.request('nobody.home', 'x', { timeout: 5000 }), (err: unknown) => {
      assert.ok(err instanceof RequestError);
      assert.ok(err.isNoResponders());
      assert.ok(err.cause instanceof NoRespondersError);
      return true;
    });
    assert.ok(Date.now() - started < 2000);
  });

  test('headers travel with the message', async (t) => {
    const broker = await start(t);
    const nc = await client(t, broker);
    const seen: { h: string | undefined; body: string }[] = [];
    nc.subscribe('h', {
      callback: (_e, m) => {
        seen.push({ h: m.headers?.get('X-Trace'), body: m.string() });
      },
    });
    await nc.flush();
    const h = headers();
    h.set('X-Trace', 'abc');
    nc.publish('h', 'body', { headers: h });
    await nc.flush();
    await waitFor(() => seen.length === 1, 'header message');
    assert.deepEqual(seen, [{ h: 'abc', body: 'body' }]);
  });

  test('a queue group shares messages: each message once across members', async (t) => {
    const broker = await start(t);
    const a = await client(t, broker);
    const b = await client(t, broker);
    const qa = collect(a, 'work', { queue: 'workers' });
    const qb = collect(b, 'work', { queue: 'workers' });
    const all = collect(b, 'work');
    await a.flush();
    await b.flush();
    const pub = await client(t, broker);
    for (let i = 0; i < 100; i++) pub.publish('work', String(i));
    await pub.flush();
    await waitFor(() => all.got.length === 100 && qa.got.length + qb.got.length === 100, 'work');
    assert.ok(qa.got.length > 0 && qb.got.length > 0);
    assert.equal(new Set([...qa.got, ...qb.got]).size, 100);
  });

  test('a subscription with max ends after that many messages', async (t) => {
    const broker = await start(t);
    const nc = await client(t, broker);
    const { got, sub } = collect(nc, 'few', { max: 3 });
    await nc.flush();
    for (let i = 0; i < 10; i++) nc.publish('few', String(i));
    await nc.flush();
    await sub.closed;
    assert.deepEqual(got, ['few:0', 'few:1', 'few:2']);
    assert.equal(broker.stats().subscriptions, 0);
  });

  test('echo off: a client does not get its own messages', async (t) => {
    const broker = await start(t);
    const nc = await client(t, broker, { noEcho: true });
    const other = await client(t, broker);
    const mine = collect(nc, 'e');
    const theirs = collect(other, 'e');
    await nc.flush();
    await other.flush();
    nc.publish('e', 'x');
    await nc.flush();
    await waitFor(() => theirs.got.length === 1, 'other client');
    await nc.flush();
    assert.deepEqual(mine.got, []);
  });

  test('a large message near max_payload arrives intact', async (t) => {
    const broker = await start(t);
    const nc = await client(t, broker);
    const body = Buffer.alloc(1024 * 1024 - 100, 7);
    let got: Uint8Array | null = null;
    nc.subscribe('big', {
      callback: (_e, m) => {
        got = m.data;
      },
    });
    await nc.flush();
    nc.publish('big', body);
    await nc.flush();
    await waitFor(() => got !== null, 'big message');
    assert.ok(Buffer.from(got as unknown as Uint8Array).equals(body));
  });

  test('graceful close: the client sees its connection end', async (t) => {
    const broker = await start(t);
    const nc = await connect({ servers: broker.url, reconnect: false });
    const closed = nc.closed();
    await broker.close();
    await closed;
    assert.ok(nc.isClosed());
  });
});
