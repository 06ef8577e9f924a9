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
