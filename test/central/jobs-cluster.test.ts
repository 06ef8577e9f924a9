import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { JobView } from '../../src/fleet/job-view.js';
import { startFleet } from '../helpers/fleet.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';

// The scale-out story (DESIGN.md, "Roles": a real nats-server cluster for more than one machine's
// worth of fleet): a job over a cluster of three nats-servers joined by routes, with central on
// one server and the nodes spread over the other two; one of those is killed mid-job. Its nodes
// reconnect to the survivors; every node still ends in a terminal state and no command runs twice.

test('a job survives the loss of one server of a three-server cluster: every node ends, none runs twice', async (t) => {
  const cluster = await startNatsCluster(t);
  if (!cluster) return;
  const [s0, s1, s2] = cluster.servers;
  assert.ok(s0 && s1 && s2);
  const fleet = await startFleet(t, {
    nodes: [],
    brokerUrl: s0.url,
    nodeArgs: ['--hello-interval', '1'],
  });
  const fast = { helloInterval: 1, 'broker.reconnectWait': 0.2, 'broker.reconnectJitterMs': 0 };
  const onS1 = ['a1', 'a2', 'a3', 'a4'];
  const onS2 = ['b1', 'b2', 'b3', 'b4'];
  await fleet.startHost('hostA', onS1, { ...fast, 'broker.url': s1.url });
  await fleet.startHost('hostB', onS2, { ...fast, 'broker.url': s2.url });
  const runs = join(fleet.dir, 'runs.log');
  const all = [...onS1, ...onS2];

  const started = await fleet.cli([
    'run',
    '--async',
    '--nodes',
    all.join(','),
    '--timeout',
    '30s',
    '--ttl',
    '60s',
    '--',
    'sh',
    '-c',
    `echo $$ >> ${runs}; sleep 2; echo done`,
  ]);
  assert.equal(started.code, 0, started.stderr);
  const id = started.stdout.trim();
  // Mid-job: the commands are running (every node ACKed), then s2 dies.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await fleet.cli(['--format', 'json', 'jobs', 'show', id]);
    const job = JSON.parse(r.stdout) as JobView;
    if (job.counts.acknowledged === all.length) break;
    assert.ok(Date.now() < deadline, `not every node ACKed: ${r.stdout}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  await s2.kill();

  const done = await fleet.cli(['--format', 'json', 'jobs', 'show', id, '--wait']);
  const job = JSON.parse(done.stdout) as JobView;
  const nodes = job.nodes ?? [];
  assert.equal(nodes.length, all.length);
  for (const n of nodes) {
    assert.ok(
      !['waiting', 'sent', 'acknowledged'].includes(n.state),
      `${n.node} ended: ${n.state}`,
    );
  }
  // Every node that took the command ran it once: one line per run, one run per node.
  const lines = readFileSync(runs, 'utf8').trim().split('\n');
  const ran = nodes.filter((n) => n.exitCode !== undefined);
  assert.equal(lines.length, new Set(lines).size, 'each run wrote its own pid');
  assert.equal(lines.length, all.length, `runs: ${lines.length} for ${all.length} nodes`);
  assert.equal(ran.length, all.length, JSON.stringify(nodes.map((n) => [n.node, n.state])));
  assert.equal(job.state, 'completed');
  assert.equal(done.code, 0);
});
