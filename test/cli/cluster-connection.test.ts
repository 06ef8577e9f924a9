import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { connectClient } from '../../src/client/connect.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';

// A command given a cluster (`--broker a,b,c`) rides out the loss of the server it talks to: it
// goes on with another, so `admiral run` or `jobs show --wait` keep waiting through a server
// failure (docs/operations.md, "Scaling out"). Given one server, it still gives up at once.

test('a CLI connection to a cluster goes on with another server when its own dies', async (t) => {
  const cluster = await startNatsCluster(t, { size: 2 });
  if (!cluster) return;
  const dir = await mkdtemp(join(tmpdir(), 'admiral-cli-cluster-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const client = await connectClient({ broker: cluster.urls, dataDir: join(dir, 'none') });
  t.after(() => client.close());
  const mine = cluster.servers.find((s) => s.url.endsWith(`:${client.nc.info?.port}`));
  const other = cluster.servers.find((s) => s !== mine);
  assert.ok(mine && other, `connected to ${client.nc.getServer()}`);
  // An answerer on the server that stays.
  const answerer = await connect({ servers: other.url });
  t.after(() => answerer.close());
  answerer.subscribe('echo', { callback: (_e, m) => void m.respond(m.data) });
  await answerer.flush();
  assert.equal((await client.nc.request('echo', 'before', { timeout: 2000 })).string(), 'before');

  await mine.kill();
  let answer: string | undefined;
  for (const deadline = Date.now() + 10_000; answer === undefined && Date.now() < deadline;) {
    answer = await client.nc
      .request('echo', 'after', { timeout: 1000 })
      .then((m) => m.string())
      .catch(() => undefined);
  }
  assert.equal(answer, 'after', `the connection did not go on: closed=${client.nc.isClosed()}`);
  assert.equal(client.nc.isClosed(), false);
});
