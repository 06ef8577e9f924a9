import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type AdmiralProcess,
  spawnAdmiral,
  stopAdmiral,
  untilOutput,
} from '../helpers/admiral-process.js';

// A join token is a credential: once it has done its job (the node is enrolled), it is not left
// in plaintext in the node's config.yaml, nor anywhere else in its data dir. Real processes:
// `admiral up --listen 127.0.0.1:0 --secure` and `admiral node start --join TOKEN`.

type Proc = AdmiralProcess;
const until = untilOutput;
const stop = stopAdmiral;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st === undefined) return [];
    return st.isDirectory() ? filesUnder(p) : st.isFile() ? [p] : [];
  });
}

test('after node start --join TOKEN has enrolled, the token is in neither config.yaml nor anywhere in the data dir', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-join-token-'));
  const procs: Proc[] = [];
  t.after(async () => {
    for (const p of procs.reverse()) await stop(p);
    await rm(dir, { recursive: true, force: true });
  });
  const central = spawnAdmiral(
    [
      'up',
      '--listen',
      '127.0.0.1:0',
      '--secure',
      '--advertise',
      '127.0.0.1',
      '--http-listen',
      '127.0.0.1:0',
      '--data-dir',
      join(dir, 'admiral-data'),
    ],
    dir,
  );
  procs.push(central);
  await until('admiral up', () => /--ca-fingerprint \S+/.test(central.output()), central);
  const m = /--broker (tls:\/\/\S+) --join (\S+) --ca-fingerprint ([0-9a-f]{64})/.exec(
    central.output(),
  );
  assert.ok(m, central.output());
  const [, url, token, fingerprint] = m as unknown as [string, string, string, string];
  const secret = token.split('.')[1] as string;

  const shipDir = join(dir, 'ship1');
  const start = (args: readonly string[]): Proc => {
    const p = spawnAdmiral(['node', 'start', '--data-dir', shipDir, ...args], dir);
    procs.push(p);
    return p;
  };
  let ship = start([
    '--name',
    'ship1',
    '--broker',
    url,
    '--join',
    token,
    '--ca-fingerprint',
    fingerprint,
  ]);
  await until('ship1 up', () => /node \S+ is up/.test(ship.output()), ship);

  const config = readFileSync(join(shipDir, 'config.yaml'), 'utf8');
  assert.doesNotMatch(config, new RegExp(secret), 'the token is not left in config.yaml');
  assert.match(config, new RegExp(fingerprint), 'the rest of what --join set is kept');
  for (const file of filesUnder(shipDir)) {
    assert.equal(readFileSync(file).includes(secret), false, `${file} holds the join token`);
  }

  // Restarted from its data dir alone, it is still a member of the fleet.
  await stop(ship);
  ship = start([]);
  await until('ship1 up again', () => /node \S+ is up/.test(ship.output()), ship);
  assert.doesNotMatch(ship.output(), /waiting to be accepted/);
});
