import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { Registry } from '../../src/central/registry.js';
import { openBucket } from '../../src/store/jetstream/buckets.js';
import { KvRegistryState } from '../../src/store/jetstream/registry.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';

// The registry on an R3 KV bucket of a 3-server nats-server cluster: a write is acknowledged
// once a majority stored it, so losing any one server (kill -9) loses no acknowledged write.

test('on an R3 cluster no acknowledged registry write is lost when a server is killed mid-stream', async (t) => {
  const cluster = await startNatsCluster(t, { size: 3, jetstream: true });
  if (!cluster) return;
  const [s1, s2, s3] = cluster.servers;
  const writerNc = await connect({ servers: [s1!.url, s2!.url, s3!.url], noRandomize: true });
  t.after(() => writerNc.close());
  const registry = new Registry(
    new KvRegistryState(await openBucket(writerNc, 'registry', { replicas: 3 })),
  );
  const acked: string[] = [];
  const failed: string[] = [];
  let i = 0;
  const write = async (): Promise<void> => {
    const name = `svc-${i++}`;
    try {
      await registry.register(name, JSON.stringify({ n: name }), { ip: '10.0.0.1' });
      acked.push(name);
    } catch {
      failed.push(name); // not acknowledged: the caller knows it may be missing
    }
  };
  for (let k = 0; k < 50; k++) await write();
  // The writer's own server dies: it reconnects to another one and carries on once the stream
  // has re-elected its leader (writes in between fail, unacknowledged).
  await s1!.kill();
  const deadline = Date.now() + 20_000;
  while (acked.length < 100 && Date.now() < deadline) await write();
  assert.ok(acked.length >= 100, `${acked.length - 50} writes acknowledged in 20 s after the kill`);
  const readerNc = await connect({ servers: [s3!.url] });
  t.after(() => readerNc.close());
  const reader = new Registry(
    new KvRegistryState(await openBucket(readerNc, 'registry', { replicas: 3 })),
  );
  const names = new Set((await reader.list()).map((e) => e.name));
  assert.deepEqual(
    acked.filter((n) => !names.has(n)),
    [],
    'acknowledged writes missing after the loss of a server',
  );
});

test('a registry write sent while the bucket stream re-elects its leader waits for the new leader and is acknowledged', async (t) => {
  const cluster = await startNatsCluster(t, { size: 3, jetstream: true });
  if (!cluster) return;
  const nc = await connect({ servers: cluster.urls, noRandomize: true });
  t.after(() => nc.close());
  const kv = await openBucket(nc, 'registry', { replicas: 3 });
  const state = new KvRegistryState(kv);
  const registry = new Registry(state);
  await registry.register('before', '"x"', { ip: '10.0.0.1' });
  // Kill the server that leads the bucket's stream: until the two others elect a new leader
  // (seconds: nats-server's raft election timeout), nothing takes the stream's subjects and a
  // publish gets "no responders", which the JetStream client reports as "jetstream is not enabled".
  const leader = (await kv.jsm.streams.info(kv.stream)).cluster?.leader;
  const victim = cluster.servers.find((s) => s.name === leader);
  assert.ok(victim, `no server named ${String(leader)} leads the stream`);
  await victim.kill();
  const startedAt = Date.now();
  await registry.register('during', '"y"', { ip: '10.0.0.1' });
  await registry.update('before', '"x2"', { ip: '10.0.0.1' });
  const tookMs = Date.now() - startedAt;
  assert.equal((await state.get('during'))?.value, '"y"');
  assert.equal((await state.get('before'))?.value, '"x2"');
  assert.ok(tookMs < 15_000, `the writes waited ${tookMs} ms`);
});
