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
  const client = await connect({ servers: [a!.url, b!.url], reconnectTimeWait: 100 });
  t.after(() => client.close());
  const r = await client.request('svc.echo', 'hi', { timeout: 5000 });
  assert.equal(Buffer.from(r.data).toString(), 'hi');
  // When the client sits on b, killing b sends it to a; the next request is meant to prove the
  // cluster still carries it, so it is made once the client says it reconnected (not raced against
  // the client's reconnect back-off).
  const onB = client.info?.port === b!.port;
  const reconnected = (async () => {
    for await (const s of client.status()) if (s.type === 'reconnect') return;
  })();
  await b!.kill();
  if (onB) await reconnected;
  assert.notEqual(client.info?.port, b!.port);
  const again = await client.request('svc.echo', 'still', { timeout: 5000 });
  assert.equal(Buffer.from(again.data).toString(), 'still');
});
