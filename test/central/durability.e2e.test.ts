import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { listBackups } from '../../src/central/backups.js';
import { requestCentral } from '../../src/central/client.js';
import { CENTRAL_SERVICES, type ListedService } from '../../src/central/wire.js';
import { connectClient } from '../../src/client/connect.js';
import { runCli, startFleet } from '../helpers/fleet.js';
import { freeUdpPort } from '../helpers/ports.js';

// The registry is durable: every write the central acknowledged survives `kill -9` of the central
// (SQLite WAL, committed before the answer), and scheduled backups restore it with one command.

test('every acknowledged registry write survives kill -9 of the central; backups restore it', async (t) => {
  Object.assign(process.env, {
    ADMIRAL_CENTRAL__DISCOVERY__PORT: String(await freeUdpPort()),
    ADMIRAL_CENTRAL__REGISTRY__BACKUP_FREQ_SECS: '1',
    ADMIRAL_CENTRAL__REGISTRY__BACKUP_RETAIN_N: '2',
  });
  const fleet = await startFleet(t, { nodes: [] });
  const dataDir = fleet.central.dataDir;
  const client = await connectClient({ dataDir });
  const acked = new Map<string, string>();
  let failures = 0;
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; ; i++) {
      const name = `k-${w}-${i}`;
      const data = i % 2 === 0 ? `v${i}` : `{"n": ${i}}`;
      try {
        await requestCentral(
          client,
          CENTRAL_SERVICES.service,
          { op: 'register', name, data },
          2000,
        );
        acked.set(name, data);
      } catch {
        failures += 1;
        return;
      }
    }
  };
  const writers = Array.from({ length: 8 }, (_, w) => writer(w));
  while (acked.size < 200) await new Promise((r) => setTimeout(r, 10));
  // Crash the central (and its embedded broker) with writes in flight.
  await fleet.central.kill9();
  await Promise.all(writers);
  await client.close().catch(() => undefined);
  assert.ok(failures > 0, 'writes were in flight when the central died');
  await fleet.central.restart();

  const after = await connectClient({ dataDir });
  t.after(() => after.close());
  const listed = (await requestCentral(
    after,
    CENTRAL_SERVICES.service,
    { op: 'list' },
    5000,
  )) as ListedService[];
  const byName = new Map(listed.map((e) => [e.name, e.data]));
  const lost = [...acked.keys()].filter((n) => !byName.has(n));
  assert.deepEqual(lost, [], `${lost.length} of ${acked.size} acknowledged writes lost`);
  for (const [name, data] of acked) {
    const got = byName.get(name);
    if (data.startsWith('{')) assert.equal((got as { n: number }).n, JSON.parse(data).n, name);
    else assert.equal(got, data, name);
  }

  // Backups every second, two kept; one of them puts a deleted entry back.
  const dir = join(dataDir, 'backups');
  const deadline = Date.now() + 10_000;
  while (listBackups(dir).length < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 2500));
  const backups = listBackups(dir);
  assert.ok(backups.length >= 1 && backups.length <= 2, `kept ${backups.length} backups`);
  // Kept aside: with a backup a second and two kept, the file itself is soon pruned.
  const latest = join(fleet.dir, 'registry-backup.json');
  copyFileSync(backups.at(-1) ?? '', latest);
  const victim = [...acked.keys()][0] ?? '';
  const del = await runCli(['service', 'delete', '--name', victim], fleet.dir);
  assert.deepEqual([del.code, del.stdout, del.stderr], [0, '', '']);
  const restore = await runCli(['service', 'restore', '--backup', latest], fleet.dir);
  assert.deepEqual(
    [restore.code, restore.stdout, restore.stderr],
    [0, `restored ${byName.size} entries from ${latest}\n`, ''],
  );
  const get = await runCli(['service', 'get', '--name', victim], fleet.dir);
  assert.deepEqual([get.code, get.stdout, get.stderr], [0, `${String(acked.get(victim))}\n`, '']);
});
