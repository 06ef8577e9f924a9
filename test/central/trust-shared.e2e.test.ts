import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { generateIdentity } from '../../src/protocol/index.js';
import { stopAdmiral } from '../helpers/admiral-process.js';
import { startStandby } from '../helpers/centrals.js';
import { runCli, startFleet } from '../helpers/fleet.js';
import { startJetStream } from '../helpers/jetstream.js';

// The operator keys centrals trust, shared on JetStream (central/shared-trust.ts): `admiral trust
// add` on one central's data dir reaches the other, a removal as well, and a central that was down
// while a key was removed elsewhere drops it when it starts instead of bringing it back.

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
  assert.equal((await trust(bDir, 'remove', k1)).code, 0);
  await until('k1 removed on b to leave a', () => !trusted(aDir).includes(k1));

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
