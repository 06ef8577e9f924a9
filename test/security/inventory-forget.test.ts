import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startFleet } from '../helpers/fleet.js';

// `nodes forget` changes central's inventory, so it is a signed request central takes only from
// keys it trusts: a node (here ship1's own key) cannot make central forget anyone.

test("a node's key cannot make central forget a node", async (t) => {
  const fleet = await startFleet(t, { nodes: ['ship1', 'ship2'] });
  const ship1 = fleet.nodes.get('ship1');
  assert.ok(ship1);
  const listed = async (): Promise<string[]> => {
    const r = await fleet.cli(['--format', 'json', '--cols', 'node', 'nodes']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { node: string }[]).map((n) => n.node);
  };
  const deadline = Date.now() + 15_000;
  while (!(await listed()).includes('ship2')) {
    assert.ok(Date.now() < deadline, 'ship2 never reached the inventory');
    await new Promise((r) => setTimeout(r, 200));
  }
  await fleet.nodes.get('ship2')?.stop();
  // Signed with ship1's key (its data dir), through the same broker.
  const r = await fleet.cli([
    '--broker',
    fleet.brokerUrl,
    '--data-dir',
    ship1.dataDir,
    'nodes',
    'forget',
    'ship2',
  ]);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, /untrusted key/);
  assert.ok((await listed()).includes('ship2'), 'ship2 was forgotten on an untrusted request');
});
