import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { startNatsCluster } from './nats-cluster.js';

test('three nats-servers joined by routes carry a request from one to a responder on another, and survive one dying', async (t) => {
  const cluster = await startNatsCluster(t);
  if (cluster === undefined) return;
  assert.equal(cluster.servers.length, 3);
  assert.equal(new Set(cluster.servers.map((s) => s.port)).size, 3);
  const [a, b, c] = cluster.servers;
  const responder = await connect({ servers: c!.url });
  t.after(() => responder.close());
  responder.subscribe('svc.echo', {
    callback: (_e, m) => {
      m.respond(m.data);
    },
  });
  await responder.flush();
  const client = await connect({ servers: [a!.url, b!.url] });
  t.after(() => client.close());
  const r = await client.request('svc.echo', 'hi', { timeout: 5000 });
  assert.equal(Buffer.from(r.data).toString(), 'hi');
  await b!.kill();
  const again = await client.request('svc.echo', 'still', { timeout: 5000 });
  assert.equal(Buffer.from(again.data).toString(), 'still');
});
