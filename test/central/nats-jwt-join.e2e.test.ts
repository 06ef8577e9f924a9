import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { connect, credsAuthenticator } from '@nats-io/transport-node';
import { verifyJwt } from '../../src/broker/jwt.js';
import { ensureServerPki, serverNames } from '../../src/central/pki.js';
import { identityFromSeed } from '../../src/protocol/index.js';
import {
  type AdmiralProcess,
  spawnAdmiral,
  stopAdmiral,
  untilOutput,
} from '../helpers/admiral-process.js';
import { runCli } from '../helpers/fleet.js';
import { type OperatorNats, startOperatorNats } from '../helpers/nats-operator.js';

// Joining a fleet on Debian's nats-server in operator mode, with real processes: `admiral nats
// init` makes the operator and accounts, nats-server (TLS) runs with the configuration it wrote,
// central runs `node start --central-role --nats-operator`, and a node joins with the one command
// `nats init` prints. Central issues it a user JWT; `nodes revoke` pushes a revocation that
// disconnects it and keeps it out, with no server reload.

interface JwtFleet {
  dir: string;
  nats: OperatorNats;
  url: string;
  enrolJwt: string;
  fingerprint: string;
  caFile: string;
  central: AdmiralProcess;
  cli(args: readonly string[]): ReturnType<typeof runCli>;
  node(name: string, args: readonly string[]): AdmiralProcess;
}

const up = (p: AdmiralProcess): boolean => /node \S+ is up/.test(p.output());

async function startJwtFleet(t: TestContext): Promise<JwtFleet | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-jwt-join-'));
  const procs: AdmiralProcess[] = [];
  t.after(async () => {
    for (const p of procs.reverse()) await stopAdmiral(p);
    await rm(dir, { recursive: true, force: true });
  });
  const data = join(dir, 'admiral-data');
  const init = await runCli(['nats', 'init', '--data-dir', data], dir);
  assert.equal(init.code, 0, init.stderr);
  const enrolJwt = /--enrol-jwt (\S+)/.exec(init.stdout)?.[1];
  assert.ok(enrolJwt, init.stdout);
  const pki = await ensureServerPki(join(dir, 'servers'), serverNames('127.0.0.1'));
  const chain = join(dir, 'servers', 'chain.pem');
  const key = join(dir, 'servers', 'key.pem');
  await writeFile(chain, pki.certChainPem);
  await writeFile(key, pki.keyPem, { mode: 0o600 });
  const nats = await startOperatorNats(t, {
    dataDir: data,
    tls: { certFile: chain, keyFile: key, caFile: pki.caFile },
  });
  if (nats === undefined) return undefined;
  const url = nats.urls.replace('nats://', 'tls://');
  const central = spawnAdmiral(
    [
      'node',
      'start',
      '--central-role',
      '--name',
      'central',
      '--data-dir',
      data,
      '--broker',
      url,
      '--root-ca',
      pki.caFile,
      '--creds',
      join(data, 'nats', 'central.creds'),
      '--nats-operator',
      join(data, 'nats'),
      '--http-listen',
      '127.0.0.1:0',
    ],
    dir,
  );
  procs.push(central);
  await untilOutput('central up', () => up(central), central);
  return {
    dir,
    nats,
    url,
    enrolJwt,
    fingerprint: pki.caFingerprint,
    caFile: pki.caFile,
    central,
    cli: (args) => runCli([...args, '--data-dir', data], dir),
    node(name, args) {
      const p = spawnAdmiral(
        ['node', 'start', '--name', name, '--data-dir', join(dir, name), '--broker', url, ...args],
        dir,
      );
      procs.push(p);
      return p;
    },
  };
}

test('on nats-server with JWTs a node joins with one command, runs a job, and a revoke cuts it off for good', async (t) => {
  const fleet = await startJwtFleet(t);
  if (fleet === undefined) return;
  const made = await fleet.cli(['tokens', 'create']);
  assert.equal(made.code, 0, made.stderr);
  const token = /\S+\.\S+/.exec(made.stdout)?.[0];
  assert.ok(token, made.stdout);
  const ship = fleet.node('ship1', [
    '--join',
    token,
    '--ca-fingerprint',
    fleet.fingerprint,
    '--enrol-jwt',
    fleet.enrolJwt,
    '--hello-interval',
    '1',
  ]);
  await untilOutput('ship1 up', () => up(ship), ship);
  const run = await fleet.cli(['run', '--nodes', 'ship1', '--', 'echo', 'joined by jwt']);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /joined by jwt/);

  // Its login is a user JWT for its own key, signed under the fleet account, confined to its subjects.
  const credsFile = join(fleet.dir, 'ship1', 'broker.creds');
  assert.ok(existsSync(credsFile));
  const creds = readFileSync(credsFile, 'utf8');
  const jwt = /-----BEGIN NATS USER JWT-----\n(\S+)\n/.exec(creds)?.[1] ?? '';
  const claims = verifyJwt(jwt, 'A', 'user');
  const seed = readFileSync(join(fleet.dir, 'ship1', 'identity.seed'), 'utf8');
  assert.equal(claims.sub, identityFromSeed(seed).publicKey);
  const nats = claims.nats as { pub: { allow: string[] }; issuer_account: string };
  assert.equal(nats.issuer_account, fleet.nats.operator.accountPublicKey);
  assert.ok(nats.pub.allow.includes('adm.node.central.*'));
  assert.ok(!nats.pub.allow.some((s) => s === 'adm.>' || s === '>'));

  const revoke = await fleet.cli(['nodes', 'revoke', 'ship1']);
  assert.equal(revoke.code, 0, revoke.stdout + revoke.stderr);
  await untilOutput(
    'ship1 disconnected',
    () => /disconnected from the broker|authorization|authentication/i.test(ship.output()),
    ship,
  );
  // Attack: the revoked node's own creds no longer log in, on the same running server.
  await assert.rejects(
    connect({
      servers: fleet.nats.urls,
      authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
      tls: { caFile: fleet.caFile },
      reconnect: false,
    }),
    /authorization|authentication/i,
  );
});
