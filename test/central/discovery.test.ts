import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { discover } from '../../src/central/discover.js';
import { DiscoveryResponder } from '../../src/central/discovery.js';
import {
  encodeReply,
  encodeRequest,
  newNonce,
  parseReply,
  parseRequest,
} from '../../src/central/discovery-protocol.js';
import { RateLimiter } from '../../src/central/rate-limit.js';
import { generateIdentity } from '../../src/protocol/index.js';

const silent = (): void => undefined;

async function responder(
  t: import('node:test').TestContext,
  names: readonly string[],
  ratePerSource = 5,
  host = '127.0.0.1',
  alsoHear: readonly string[] = [],
) {
  const identity = generateIdentity();
  const r = await DiscoveryResponder.start({
    host,
    alsoHear,
    port: 0,
    node: 'central',
    identity,
    has: (n) => names.includes(n),
    ratePerSource,
    log: silent,
  });
  t.after(() => r.close());
  return { r, identity };
}

test('a reply is signed by the central and answers only the request it was made for', () => {
  const id = generateIdentity();
  const req = { name: 'foo-cluster1', nonce: newNonce() };
  const packet = encodeReply(req, 'central', id);
  assert.deepEqual(parseReply(packet, req), {
    name: 'foo-cluster1',
    nonce: req.nonce,
    node: 'central',
    publicKey: id.publicKey,
  });
  assert.equal(parseReply(packet, { ...req, nonce: newNonce() }), undefined, 'other nonce');
  assert.equal(parseReply(packet, req, new Set([generateIdentity().publicKey])), undefined);
  assert.ok(parseReply(packet, req, new Set([id.publicKey])));
  const forged = JSON.parse(packet.toString()) as Record<string, unknown>;
  forged.node = 'evil';
  assert.equal(parseReply(Buffer.from(JSON.stringify(forged)), req), undefined, 'tampered');
  forged.node = 'central';
  forged.publicKey = generateIdentity().publicKey;
  assert.equal(parseReply(Buffer.from(JSON.stringify(forged)), req), undefined, 'key swapped');
});

test('malformed requests parse to nothing and never throw', () => {
  for (const p of [
    '',
    'garbage',
    '[]',
    'null',
    '{"t":"adm-discover","v":1,"name":"x"}',
    '{"t":"adm-discover","v":1,"name":"x","nonce":"zz"}',
    '{"t":"adm-discover","v":2,"name":"x","nonce":"00112233445566778899aabbccddeeff"}',
    '{"t":"adm-discover","v":1,"name":"","nonce":"00112233445566778899aabbccddeeff"}',
    'x'.repeat(5000),
  ]) {
    assert.equal(parseRequest(Buffer.from(p)), undefined, p.slice(0, 40));
  }
  assert.ok(parseRequest(encodeRequest({ name: 'a', nonce: newNonce() })));
});

test('discover finds a responder holding the name and prints its address', async (t) => {
  // Hearing the loopback broadcast as a local-mode central does (tests listen on loopback only).
  const { r, identity } = await responder(t, ['foo-cluster1'], 5, '127.0.0.1', ['127.255.255.255']);
  const found = await discover({
    name: 'foo-cluster1',
    port: r.port,
    broadcast: '127.255.255.255',
    timeoutMs: 2000,
    trustedKeys: [identity.publicKey],
  });
  assert.equal(found.address, '127.0.0.1');
  assert.equal(found.publicKey, identity.publicKey);
});

test('discover gets no answer for an unknown name, or from an untrusted key', async (t) => {
  const { r } = await responder(t, ['foo-cluster1']);
  await assert.rejects(
    discover({ name: 'foo-cluster2', port: r.port, broadcast: '127.0.0.1', timeoutMs: 300 }),
    {
      name: 'DiscoveryTimeoutError',
      message: "no central answered discovery of 'foo-cluster2' within 0.3 s",
    },
  );
  await assert.rejects(
    discover({
      name: 'foo-cluster1',
      port: r.port,
      broadcast: '127.0.0.1',
      timeoutMs: 300,
      trustedKeys: [generateIdentity().publicKey],
    }),
    { name: 'DiscoveryTimeoutError' },
  );
});

test('garbage and a flood from one source are dropped and the responder keeps answering', async (t) => {
  const { r } = await responder(t, ['foo'], 5);
  const sock = createSocket('udp4');
  t.after(() => sock.close());
  await new Promise<void>((res) => sock.bind(0, '127.0.0.1', () => res()));
  let replies = 0;
  sock.on('message', () => {
    replies += 1;
  });
  const send = (b: Buffer): Promise<void> =>
    new Promise((res, rej) => sock.send(b, r.port, '127.0.0.1', (e) => (e ? rej(e) : res())));
  await send(Buffer.from('not json'));
  await send(Buffer.alloc(4000, 1));
  await send(Buffer.from('{"t":"adm-discover"}'));
  // 100 valid requests at once: only the burst (5) is answered.
  for (let i = 0; i < 100; i++) await send(encodeRequest({ name: 'foo', nonce: newNonce() }));
  await new Promise((res) => setTimeout(res, 300));
  assert.ok(replies <= 5 && replies >= 1, `answered ${replies} of 100`);
  assert.ok(r.dropped >= 98, `dropped ${r.dropped}`);
  // After the bucket refills, a well-formed request is answered again.
  await new Promise((res) => setTimeout(res, 1100));
  const before = replies;
  await send(encodeRequest({ name: 'foo', nonce: newNonce() }));
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(replies, before + 1);
});

test('the rate limiter refills per source and caps everyone together', () => {
  const rl = new RateLimiter({ perSecond: 2, globalPerSecond: 3 });
  assert.equal(rl.allow('a', 0), true);
  assert.equal(rl.allow('a', 0), true);
  assert.equal(rl.allow('a', 0), false, 'a is out of tokens');
  assert.equal(rl.allow('b', 0), true);
  assert.equal(rl.allow('c', 0), false, 'the global bucket is empty');
  assert.equal(rl.allow('a', 1000), true, 'a refilled after a second');
  const many = new RateLimiter({ perSecond: 1, maxSources: 10, globalPerSecond: 1e9 });
  for (let i = 0; i < 100; i++) many.allow(`s${i}`, 0);
  assert.ok(many.size <= 10, `remembers ${many.size} sources`);
});

test('discovery listens on every interface unless the central only uses a loopback broker', async () => {
  const { brokerServicesOptions, defaultDiscoveryHost } =
    await import('../../src/central/broker-services.js');
  const { loadConfig } = await import('../../src/config/load.js');
  assert.equal(defaultDiscoveryHost('nats://127.0.0.1:4222'), '127.0.0.1');
  assert.equal(defaultDiscoveryHost('nats://localhost:4222,tls://[::1]:4223'), '127.0.0.1');
  assert.equal(defaultDiscoveryHost('127.0.0.1:4222'), '127.0.0.1');
  assert.equal(defaultDiscoveryHost('nats://127.0.0.1:4222,nats://10.0.0.5:4222'), '0.0.0.0');
  assert.equal(defaultDiscoveryHost('tls://broker.example.com:4222'), '0.0.0.0');
  assert.equal(defaultDiscoveryHost('not a url at all'), '0.0.0.0');
  const options = (flags: Record<string, unknown>) =>
    brokerServicesOptions(loadConfig({ flags: { dataDir: '/tmp/x', ...flags }, env: {} }).config)
      .discovery;
  assert.equal(options({})?.host, '127.0.0.1');
  assert.deepEqual(options({})?.alsoHear, ['127.255.255.255']);
  assert.deepEqual(options({ 'broker.url': 'nats://10.1.2.3:4222' })?.alsoHear, []);
  assert.deepEqual(options({ 'central.discovery.listen': '127.0.0.1' })?.alsoHear, []);
  assert.equal(options({ 'broker.url': 'nats://10.1.2.3:4222' })?.host, '0.0.0.0');
  assert.equal(options({ 'central.discovery.listen': '10.9.9.9' })?.host, '10.9.9.9');
  assert.equal(options({ 'central.discovery.port': 0 })?.port, 0);
});

test('a responder also hearing the loopback broadcast address answers broadcasts there, from its own address', async (t) => {
  const identity = generateIdentity();
  const r = await DiscoveryResponder.start({
    host: '127.0.0.1',
    alsoHear: ['127.255.255.255'],
    port: 0,
    node: 'central',
    identity,
    has: (n) => n === 'foo-cluster1',
    ratePerSource: 50,
    log: silent,
  });
  t.after(() => r.close());
  for (const broadcast of ['127.255.255.255', '127.0.0.1']) {
    const found = await discover({
      name: 'foo-cluster1',
      port: r.port,
      broadcast,
      timeoutMs: 2000,
    });
    assert.equal(found.address, '127.0.0.1', `asked on ${broadcast}`);
    assert.equal(found.publicKey, identity.publicKey);
  }
});
