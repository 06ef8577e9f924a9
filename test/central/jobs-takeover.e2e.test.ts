import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import {
  assertRanOnceEach,
  leaderOf,
  startStandby,
  twoBatchJob,
  untilOnline,
} from '../helpers/centrals.js';
import { runCli, startFleet } from '../helpers/fleet.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';

// Jobs across a takeover on a plain nats-server cluster (no operator mode; the whole of issue
// 15's proof, with JWT enrolment, is scale-out.e2e.test.ts): two centrals share one name and key
// and their state on an R3 JetStream cluster of three nats-servers; ten nodes run a job in two
// batches of five. Mid-job, while the first batch runs, the leading central and a nats-server die
// by SIGKILL. The standby takes over: the first batch's replies reach it (their nodes hold them
// until a central takes them), the second batch is sent by it, and `admiral run`, started before
// the kill, keeps waiting and ends with every node's result. Every node ran the command once.

const SHARED = ['--central-state', 'jetstream', '--state-replicas', '3', '--hello-interval', '1'];

test('a standby central continues a running job whose leader and one nats-server died: every node runs it once, run ends right', async (t) => {
  const cluster = await startNatsCluster(t, { size: 3, jetstream: true });
  if (!cluster) return;
  const [s1, s2, s3] = cluster.servers;
  assert.ok(s1 && s2 && s3);
  const urls = (...s: (typeof s1)[]): string => s.map((x) => x.url).join(',');
  // Central a (instance a) leads; its folder is the fleet's admiral-data.
  const fleet = await startFleet(t, {
    nodes: [],
    brokerUrl: urls(s1, s2, s3),
    nodeArgs: [...SHARED, '--central-instance', 'a'],
  });
  const b = await startStandby(t, {
    dir: join(fleet.dir, 'central-b'),
    from: join(fleet.dir, 'admiral-data'),
    cwd: fleet.dir,
    args: ['--broker', urls(s2, s3, s1), ...SHARED, '--central-instance', 'b'],
  });
  const nc = await connect({ servers: [s3.url, s2.url], noRandomize: true });
  t.after(() => nc.close());
  assert.equal(await leaderOf(nc), 'a');

  // Ten nodes on the servers that survive (they fail over among all three).
  const fast = { helloInterval: 1, 'broker.reconnectWait': 0.2, 'broker.reconnectJitterMs': 0 };
  const onS2 = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const onS3 = ['n6', 'n7', 'n8', 'n9', 'n10'];
  await fleet.startHost('hostA', onS2, { ...fast, 'broker.url': urls(s2, s3, s1) });
  await fleet.startHost('hostB', onS3, { ...fast, 'broker.url': urls(s3, s2, s1) });
  const all = [...onS2, ...onS3];
  // The operator's CLI is given the whole cluster, as docs/cli.md says.
  const cli = (args: readonly string[]) =>
    runCli(['--broker', urls(s1, s2, s3), ...args], fleet.dir);
  await untilOnline(cli, all);

  const runs = join(fleet.dir, 'runs.log');
  const { running, firstBatch } = twoBatchJob(cli, all, runs);
  await firstBatch(() => fleet.central.output());
  await fleet.central.kill9();
  await s1.kill();

  const done = await running;
  assert.equal(await leaderOf(nc), 'b', b.output());
  await assertRanOnceEach(done, all, runs, `central b:\n${b.output()}`);
});
