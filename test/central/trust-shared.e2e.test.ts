import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Kvm } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import { sealEntry } from '../../src/central/shared-trust.js';
import { generateIdentity } from '../../src/protocol/index.js';
import { stopAdmiral } from '../helpers/admiral-process.js';
import { startStandby } from '../helpers/centrals.js';
import { runCli, startFleet } from '../helpers/fleet.js';
import { startJetStream } from '../helpers/jetstream.js';

// The operator keys centrals trust, shared on JetStream (central/shared-trust.ts): `admiral trust
// add` on one central's data dir reaches the other, a removal as well, and a central that was down
// while a key was removed elsewhere drops it when it starts instead of bringing it back. Attacks,
// by a broker user allowed the JetStream API but without the centrals' key: a value it signs
// itself adds no key, and an old genuine value it puts back does not undo a removal.

const SHARED = ['--central-state', 'jetstream'];

function trusted(dataDir: string): string[] {
  try {
    const file = JSON.parse(readFileSync(join(dataDir, 'trust.json'), 'utf8')) as {
      keys: { publicKey: string }[];
    };
    return file.keys.map((k) => k.publicKey);
  } catch {
    return [];
  }
}

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  for (const deadline = Date.now() + ms; !check();) {
    assert.ok(Date.now() < deadline, `${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('trust add and remove on one central reach the other; a removal made while one was down holds', async (t) => {
  const js = await startJetStream(t);
  if (js === undefined) return;
  const fleet = await startFleet(t, {
    nodes: [],
    brokerUrl: js.url,
    nodeArgs: [...SHARED, '--central-instance', 'a'],
  });
  const aDir = join(fleet.dir, 'admiral-data');
  const bDir = join(fleet.dir, 'central-b');
  const standby = (again = false): ReturnType<typeof startStandby> =>
    startStandby(t, {
      dir: bDir,
      from: aDir,
      cwd: fleet.dir,
      again,
      args: ['--broker', js.url, ...SHARED, '--central-instance', 'b'],
    });
  let b = await standby();
  const trust = (dir: string, ...args: string[]) =>
    runCli(['trust', ...args, '--data-dir', dir], fleet.dir);

  const [k1, k2] = [generateIdentity().publicKey, generateIdentity().publicKey];
  assert.equal((await trust(aDir, 'add', k1, '--label', 'ops')).code, 0);
  await until('k1 added on a to reach b', () => trusted(bDir).includes(k1));
  assert.equal((await trust(bDir, 'add', k2)).code, 0);
  await until('k2 added on b to reach a', () => trusted(aDir).includes(k2));
  const kv = await new Kvm(jetstream(js.nc)).open('admiral_trust');
  const k1Added = (await kv.get(`key.${k1}`))?.string() ?? '';
  assert.equal((await trust(bDir, 'remove', k1)).code, 0);
  await until('k1 removed on b to leave a', () => !trusted(aDir).includes(k1));

  // Attack: a key trusted by a value not signed by the centrals' key; an old value put back.
  const forged = generateIdentity().publicKey;
  await kv.put(
    `key.${forged}`,
    sealEntry(
      'admiral_trust',
      `key.${forged}`,
      { trusted: true, at: Date.now() },
      generateIdentity(),
    ),
  );
  await kv.put(`key.${k1}`, k1Added);
  await new Promise((r) => setTimeout(r, 5000)); // two looks of each central
  for (const dir of [aDir, bDir]) {
    assert.ok(!trusted(dir).includes(forged), 'a forged value added an operator key');
    assert.ok(!trusted(dir).includes(k1), 'a replayed value brought back a removed key');
  }

  // b is down while k2 is removed on a; started again, b drops k2 and a does not get it back.
  await stopAdmiral(b);
  assert.equal((await trust(aDir, 'remove', k2)).code, 0);
  await new Promise((r) => setTimeout(r, 3000)); // a's next look takes it out of the bucket
  assert.ok(trusted(bDir).includes(k2), 'b still holds k2 while down');
  b = await standby(true);
  await until('b to drop k2', () => !trusted(bDir).includes(k2));
  await new Promise((r) => setTimeout(r, 3000));
  assert.ok(!trusted(aDir).includes(k2), 'b brought back a key removed while it was down');
});
