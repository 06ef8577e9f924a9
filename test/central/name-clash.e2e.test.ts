import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnAdmiral, stopAdmiral, untilOutput } from '../helpers/admiral-process.js';
import { startFleet } from '../helpers/fleet.js';

async function inventoryOf(
  fleet: Awaited<ReturnType<typeof startFleet>>,
  node: string,
): Promise<{ state: string; publicKey: string } | undefined> {
  const r = await fleet.cli(['nodes', node, '--format', 'json', '--cols', 'state,publicKey']);
  const rows = JSON.parse(r.stdout || '[]') as { state: string; publicKey: string }[];
  return rows[0];
}

test('a second node under a name held by another key is told so and exits; the first stays online', async (t) => {
  const fleet = await startFleet(t, { nodes: ['ship1'] });
  const deadline = Date.now() + 20_000;
  while ((await inventoryOf(fleet, 'ship1'))?.state !== 'online') {
    assert.ok(Date.now() < deadline, 'ship1 never came online');
    await new Promise((r) => setTimeout(r, 200));
  }
  const held = await inventoryOf(fleet, 'ship1');

  const newcomer = spawnAdmiral(
    [
      'node',
      'start',
      '--name',
      'ship1',
      '--data-dir',
      join(fleet.dir, 'ship1-again'),
      '--broker',
      fleet.brokerUrl,
    ],
    fleet.dir,
  );
  t.after(() => stopAdmiral(newcomer));
  await untilOutput('the refusal', () => /held by another key/.test(newcomer.output()), newcomer);
  const code = await newcomer.exited;
  assert.equal(code, 1, newcomer.output());
  assert.match(newcomer.output(), /pick another --name/);
  assert.match(newcomer.output(), /admiral keys forget ship1/);

  // Its offline event on the way out does not speak for the ship1 that holds the name.
  const ping = await fleet.cli(['ping', 'ship1', '--format', 'json']);
  assert.equal(ping.code, 0, ping.stdout + ping.stderr);
  assert.deepEqual(await inventoryOf(fleet, 'ship1'), held);
});
