import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startFleet } from '../helpers/fleet.js';

// `admiral nodes forget NODE`: a node retired for good leaves central's inventory; one that is
// online cannot be forgotten (its next hello would bring it back).

test('nodes forget removes an offline node from the inventory and refuses an online one', async (t) => {
  const fleet = await startFleet(t, { nodes: ['ship1'] });
  const names = async (): Promise<string[]> => {
    const r = await fleet.cli(['--format', 'json', '--cols', 'node', 'nodes']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { node: string }[]).map((n) => n.node);
  };
  const deadline = Date.now() + 15_000;
  while (!(await names()).includes('ship1')) {
    assert.ok(Date.now() < deadline, 'ship1 never reached the inventory');
    await new Promise((r) => setTimeout(r, 200));
  }
  const online = await fleet.cli(['nodes', 'forget', 'ship1']);
  assert.equal(online.code, 1);
  assert.match(online.stderr, /node ship1 is online .*stop it first/);

  await fleet.nodes.get('ship1')?.stop();
  const offlineBy = Date.now() + 10_000;
  let forgot = await fleet.cli(['nodes', 'forget', 'ship1']);
  while (forgot.code !== 0 && Date.now() < offlineBy) {
    await new Promise((r) => setTimeout(r, 200));
    forgot = await fleet.cli(['nodes', 'forget', 'ship1']);
  }
  assert.equal(forgot.code, 0, forgot.stderr);
  assert.match(forgot.stdout, /node ship1 forgotten/);
  assert.deepEqual(await names(), ['central']);
  const again = await fleet.cli(['nodes', 'forget', 'ship1']);
  assert.match(again.stderr, /not in the inventory/);
});
