import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import type { LeaderView } from '../../src/central/leadership.js';
import type { CentralReply } from '../../src/central/wire.js';
import type { JobView } from '../../src/fleet/job-view.js';
import { runCli, startFleet } from '../helpers/fleet.js';
import { spawnAdmiral, stopAdmiral, untilOutput } from '../helpers/admiral-process.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';

// Issue 15's proof for jobs (docs/operations.md, "Scaling out"): two centrals share one name and
// key and their state on an R3 JetStream cluster of three nats-servers; ten nodes run a job in
// two batches of five. Mid-job, while the first batch runs, the leading central and the
// nats-server it is connected to die by SIGKILL. The standby takes over: the first batch's
// replies reach it (their nodes hold them until a central takes them), the second batch is sent
// by it, and `admiral run`, started before the kill, keeps waiting and ends with every node's
// result. Every node ran the command exactly once.

const SHARED = ['--central-state', 'jetstream', '--state-replicas', '3', '--hello-interval', '1'];

test('a standby central continues a running job whose leader and one nats-server died: every node runs it once, run ends right', async (t) => {
  const cluster = await startNatsCluster(t, { size: 3, jetstream: true });
  if (!cluster) return;
  const [s1, s2, s3] = cluster.servers;
  assert.ok(s1 && s2 && s3);
  const urls = (...s: (typeof s1)[]): string => s.map((x) => x.url).join(',');
  // Central a (instance a, on s1 first) leads; its folder is the fleet's admiral-data.
  const fleet = await startFleet(t, {
    nodes: [],
    brokerUrl: urls(s1, s2, s3),
    nodeArgs: [...SHARED, '--central-instance', 'a'],
  });
  // Central b: another data dir holding the same key, the same name.
  const bDir = join(fleet.dir, 'central-b');
  await mkdir(bDir, { mode: 0o700 });
  await copyFile(join(fleet.dir, 'admiral-data', 'identity.seed'), join(bDir, 'identity.seed'));
  const b = spawnAdmiral(
    [
      'node',
      'start',
      '--central-role',
      '--name',
      'central',
      '--data-dir',
      bDir,
      '--broker',
      urls(s2, s3, s1),
      ...SHARED,
      '--central-instance',
      'b',
    ],
    fleet.dir,
  );
  t.after(() => stopAdmiral(b));
  await untilOutput('central b up', () => /node central is up/.test(b.output()), b);

  const nc = await connect({ servers: [s3.url, s2.url], noRandomize: true });
  t.after(() => nc.close());
  const leader = async (): Promise<string | undefined> => {
    try {
      const m = await nc.request('adm.central.leader', '{}', { timeout: 2000 });
      const r = JSON.parse(Buffer.from(m.data).toString()) as CentralReply;
      return r.ok ? (r.result as LeaderView).leader : undefined;
    } catch {
      return undefined;
    }
  };
  assert.equal(await leader(), 'a');

  // Ten nodes on the servers that survive (they fail over among all three).
  const fast = { helloInterval: 1, 'broker.reconnectWait': 0.2, 'broker.reconnectJitterMs': 0 };
  const onS2 = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const onS3 = ['n6', 'n7', 'n8', 'n9', 'n10'];
  await fleet.startHost('hostA', onS2, { ...fast, 'broker.url': urls(s2, s3, s1) });
  await fleet.startHost('hostB', onS3, { ...fast, 'broker.url': urls(s3, s2, s1) });
  const all = [...onS2, ...onS3];
  const cli = (args: readonly string[]) => runCli(['--broker', urls(s2, s3), ...args], fleet.dir);
  for (const deadline = Date.now() + 20_000; ;) {
    const r = await cli(['nodes', '--format', 'json', '--cols', 'node,state']);
    const rows = JSON.parse(r.stdout || '[]') as { node: string; state: string }[];
    const online = rows.filter((x) => x.state === 'online').map((x) => x.node);
    if (all.every((n) => online.includes(n))) break;
    assert.ok(Date.now() < deadline, `not every node came online: ${r.stdout}${r.stderr}`);
    await new Promise((res) => setTimeout(res, 250));
  }

  const runs = join(fleet.dir, 'runs.log');
  const running = cli([
    '--format',
    'json',
    'run',
    '--nodes',
    all.join(','),
    '--max-concurrency',
    '5',
    '--timeout',
    '30s',
    '--ttl',
    '120s',
    '--',
    'sh',
    '-c',
    `echo $$ >> ${runs}; sleep 3; echo $$`,
  ]);
  // Mid-job: the first batch runs (five commands started), the second is not sent yet.
  for (const deadline = Date.now() + 20_000; ;) {
    const lines = await readFile(runs, 'utf8').catch(() => '');
    if (lines.trim().split('\n').filter(Boolean).length >= 5) break;
    assert.ok(Date.now() < deadline, `the first batch did not start: ${fleet.central.output()}`);
    await new Promise((res) => setTimeout(res, 50));
  }
  await fleet.central.kill9();
  await s1.kill();

  const done = await running;
  const output = `${done.stderr}\ncentral b:\n${b.output()}`;
  assert.equal(await leader(), 'b', output);
  assert.equal(done.code, 0, output);
  const job = JSON.parse(done.stdout) as JobView;
  assert.equal(job.state, 'completed', output);
  const nodes = job.nodes ?? [];
  assert.deepEqual(nodes.map((n) => n.node).sort(), [...all].sort());
  for (const n of nodes) assert.equal(n.state, 'completed', `${n.node}: ${JSON.stringify(n)}`);
  // One run per node: each run wrote its pid once, and each node's result is one of those pids.
  const lines = (await readFile(runs, 'utf8')).trim().split('\n');
  assert.equal(lines.length, all.length, `runs: ${lines.join(' ')}`);
  assert.deepEqual(
    nodes.map((n) => (n.output ?? '').trim()).sort(),
    [...lines].sort(),
    'every node reported the one run it made',
  );
});
