import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { leaderOf, startStandby } from '../helpers/centrals.js';
import { startFleet } from '../helpers/fleet.js';
import { startJetStream } from '../helpers/jetstream.js';

// The inventory shared by centrals on JetStream (docs/operations.md, "Scaling out"): a node the
// standby never heard (it went offline before the standby started) is still in the inventory
// once the standby leads, offline, so `--all` jobs keep targeting it (its message waits for it).

const SHARED = ['--central-state', 'jetstream', '--hello-interval', '1'];

test('a standby that leads knows the nodes only the dead leader heard, offline ones included', async (t) => {
  const js = await startJetStream(t);
  if (js === undefined) return;
  const fleet = await startFleet(t, {
    nodes: [],
    brokerUrl: js.url,
    nodeArgs: [...SHARED, '--central-instance', 'a'],
  });
  const nodes = async (): Promise<{ node: string; state: string }[]> => {
    const r = await fleet.cli([
      '--broker',
      js.url,
      'nodes',
      '--format',
      'json',
      '--cols',
      'node,state',
    ]);
    return JSON.parse(r.stdout || '[]') as { node: string; state: string }[];
  };
  const ship = await fleet.startNode('ship1', ['--hello-interval', '1']);
  await fleet.startNode('ship2', ['--hello-interval', '1']);
  for (const deadline = Date.now() + 15_000; ;) {
    const rows = await nodes();
    if (['ship1', 'ship2'].every((n) => rows.some((r) => r.node === n && r.state === 'online')))
      break;
    assert.ok(Date.now() < deadline, `ship1 and ship2 never came online: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await ship.stop();
  for (const deadline = Date.now() + 15_000; ;) {
    const rows = await nodes();
    if (rows.some((r) => r.node === 'ship1' && r.state === 'offline')) break;
    assert.ok(Date.now() < deadline, `ship1 never went offline: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  // Let the leader's coalesced write of ship1's offline state go out.
  await new Promise((r) => setTimeout(r, 500));

  const b = await startStandby(t, {
    dir: join(fleet.dir, 'central-b'),
    from: join(fleet.dir, 'admiral-data'),
    cwd: fleet.dir,
    args: ['--broker', js.url, ...SHARED, '--central-instance', 'b'],
  });
  await fleet.central.kill9();
  for (const deadline = Date.now() + 15_000; (await leaderOf(js.nc)) !== 'b';) {
    assert.ok(Date.now() < deadline, `b never led: ${b.output()}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  const rows = await nodes();
  assert.deepEqual(
    rows.filter((r) => r.node.startsWith('ship')).sort((x, y) => (x.node < y.node ? -1 : 1)),
    [
      { node: 'ship1', state: 'offline' },
      { node: 'ship2', state: 'online' },
    ],
    `the new leader's inventory: ${b.output()}`,
  );
});
