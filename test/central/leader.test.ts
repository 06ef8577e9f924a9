import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { LeaderLease } from '../../src/central/leader.js';
import { until } from '../helpers/in-process.js';
import { startJetStream } from '../helpers/jetstream.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';

// The leader lease of centrals sharing state on JetStream (src/central/leader.ts), on real
// nats-servers with JetStream: one leads, a standby takes over when it goes, never two at once.

const LEASE_MS = 1500;

/** Samples both leases until `ms` ends; fails the moment two lead at once. */
async function neverTwoLeaders(
  leases: readonly { readonly leading: boolean }[],
  ms: number,
): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    assert.ok(leases.filter((l) => l.leading).length <= 1, 'two centrals lead at once');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('of two centrals, one leads and the other stands by knowing who leads; a leader that stops hands over at once', async (t) => {
  const js = await startJetStream(t);
  if (!js) return;
  const a = await LeaderLease.start(js.nc, { holder: 'central-a', leaseMs: LEASE_MS });
  t.after(() => a.stop());
  const b = await LeaderLease.start(js.nc, { holder: 'central-b', leaseMs: LEASE_MS });
  t.after(() => b.stop());
  assert.equal(a.leading, true);
  assert.equal(b.leading, false);
  await neverTwoLeaders([a, b], LEASE_MS * 2);
  assert.equal(a.leading, true, 'the leader keeps its lease by renewing it');
  assert.equal(b.leader?.holder, 'central-a');
  const stoppedAt = Date.now();
  await a.stop();
  await until('b to lead', () => b.leading, LEASE_MS);
  assert.ok(Date.now() - stoppedAt < LEASE_MS, 'a handed-back lease is taken before it runs out');
});

test('a leader cut off from JetStream stands down before a standby takes its lease', async (t) => {
  const js = await startJetStream(t);
  if (!js) return;
  const lonely = await connect({ servers: js.url, name: 'cut-off' });
  const a = await LeaderLease.start(lonely, { holder: 'central-a', leaseMs: LEASE_MS });
  t.after(() => a.stop());
  let aLeadingWhenBTookOver: boolean | undefined;
  const b = await LeaderLease.start(js.nc, {
    holder: 'central-b',
    leaseMs: LEASE_MS,
    onChange: (leading) => {
      if (leading) aLeadingWhenBTookOver = a.leading;
    },
  });
  t.after(() => b.stop());
  assert.equal(a.leading, true);
  await lonely.close(); // a's renewals now fail
  await until('b to lead', () => b.leading, LEASE_MS * 4);
  assert.equal(aLeadingWhenBTookOver, false);
});

test('a leader killed with SIGKILL is replaced within the lease and a second', async (t) => {
  const js = await startJetStream(t);
  if (!js) return;
  const module = fileURLToPath(new URL('../../src/central/leader.js', import.meta.url));
  const transport = import.meta.resolve('@nats-io/transport-node');
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { LeaderLease } = await import(${JSON.stringify(module)});
       const { connect } = await import(${JSON.stringify(transport)});
       const nc = await connect({ servers: ${JSON.stringify(js.url)} });
       const lease = await LeaderLease.start(nc, { holder: 'child', leaseMs: ${LEASE_MS} });
       process.stdout.write(lease.leading ? 'leading\\n' : 'standby\\n');
       setInterval(() => undefined, 1000);`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => child.kill('SIGKILL'));
  const [first] = (await once(child.stdout, 'data')) as [Buffer];
  assert.equal(first.toString().trim(), 'leading');
  const b = await LeaderLease.start(js.nc, { holder: 'central-b', leaseMs: LEASE_MS });
  t.after(() => b.stop());
  assert.equal(b.leading, false);
  assert.equal(b.leader?.holder, 'child');
  const killedAt = Date.now();
  child.kill('SIGKILL');
  await until('b to lead', () => b.leading, LEASE_MS + 1000);
  const took = Date.now() - killedAt;
  assert.ok(took < LEASE_MS + 1000, `took over after ${took} ms`);
});

test('on an R3 cluster the lease survives SIGKILL of a server: still exactly one leader', async (t) => {
  const cluster = await startNatsCluster(t, { size: 3, jetstream: true });
  if (!cluster) return;
  const [s1, s2, s3] = cluster.servers;
  // Each central on its own server, both able to fail over to the others.
  const ncA = await connect({ servers: [s1!.url, s2!.url, s3!.url], noRandomize: true });
  t.after(() => ncA.close());
  const ncB = await connect({ servers: [s2!.url, s3!.url, s1!.url], noRandomize: true });
  t.after(() => ncB.close());
  const a = await LeaderLease.start(ncA, { holder: 'a', leaseMs: LEASE_MS, replicas: 3 });
  t.after(() => a.stop());
  const b = await LeaderLease.start(ncB, { holder: 'b', leaseMs: LEASE_MS, replicas: 3 });
  t.after(() => b.stop());
  await neverTwoLeaders([a, b], 300);
  await s1!.kill();
  await neverTwoLeaders([a, b], LEASE_MS * 3);
  await until('one central to lead after the loss', () => a.leading || b.leading, LEASE_MS * 4);
});
