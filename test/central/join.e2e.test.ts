import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import {
  type AdmiralProcess,
  spawnAdmiral,
  stopAdmiral,
  untilOutput,
} from '../helpers/admiral-process.js';
import { runCli } from '../helpers/fleet.js';
import { closedTcpPort } from '../helpers/ports.js';

// Joining a fleet from another machine, with real processes: `admiral up --listen 127.0.0.1:0 --secure`
// (TLS, nkey users, enrolment) and `admiral node start --join … --ca-fingerprint …`, dialled on
// 127.0.0.1. Every process stops in t.after.

type Proc = AdmiralProcess;
const until = untilOutput;
const stop = stopAdmiral;

interface SecureFleet {
  dir: string;
  url: string;
  token: string;
  fingerprint: string;
  central: Proc;
  cli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** `admiral node start` joining this fleet; `extra` replaces --join/--ca-fingerprint when given. */
  node(name: string, extra?: readonly string[]): Proc;
}

/** `admiral up` in secure mode on loopback (tests listen on loopback only; a real fleet gives its address). */
function secureUpArgs(dir: string, port: number): string[] {
  return [
    'up',
    '--listen',
    `127.0.0.1:${port}`,
    '--secure',
    '--advertise',
    '127.0.0.1',
    '--http-listen',
    '127.0.0.1:0',
    '--data-dir',
    join(dir, 'admiral-data'),
  ];
}

async function startSecureFleet(t: TestContext): Promise<SecureFleet> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-join-'));
  const procs: Proc[] = [];
  t.after(async () => {
    for (const p of procs.reverse()) await stop(p);
    await rm(dir, { recursive: true, force: true });
  });
  const central = spawnAdmiral(secureUpArgs(dir, 0), dir);
  procs.push(central);
  await until('admiral up', () => /--ca-fingerprint \S+/.test(central.output()), central);
  const m = /--broker (tls:\/\/\S+) --join (\S+) --ca-fingerprint ([0-9a-f]{64})/.exec(
    central.output(),
  );
  assert.ok(m, central.output());
  const [, url, token, fingerprint] = m;
  return {
    dir,
    url,
    token,
    fingerprint,
    central,
    cli: (args) => runCli(args, dir),
    node(name, extra) {
      const p = spawnAdmiral(
        [
          'node',
          'start',
          '--name',
          name,
          '--data-dir',
          join(dir, name),
          '--broker',
          url,
          ...(extra ?? ['--join', token, '--ca-fingerprint', fingerprint]),
          '--hello-interval',
          '1',
        ],
        dir,
      );
      procs.push(p);
      return p;
    },
  };
}

const up = (p: Proc): boolean => /node \S+ is up/.test(p.output());

describe('joining a fleet from another machine', () => {
  test('a node with a valid token joins over TLS and runs a command from central', async (t) => {
    const fleet = await startSecureFleet(t);
    assert.match(fleet.central.output(), /tls:\/\/127\.0\.0\.1:\d+ \(TLS, nkey authentication\)/);
    const ship = fleet.node('ship1');
    await until('ship1 up', () => up(ship), ship);
    const run = await fleet.cli(['run', '--nodes', 'ship1', '--', 'echo', 'joined']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /joined/);
    const trust = JSON.parse(readFileSync(join(fleet.dir, 'ship1', 'trust.json'), 'utf8')) as {
      keys: { label?: string }[];
    };
    assert.ok(
      trust.keys.some((k) => k.label === 'central central'),
      'central key pinned',
    );
  });

  test('a node without a token waits until nodes accept lets it in', async (t) => {
    const fleet = await startSecureFleet(t);
    const ship = fleet.node('ship2', ['--ca-fingerprint', fleet.fingerprint]);
    await until('ship2 pending', () => /waiting to be accepted/.test(ship.output()), ship);
    const pending = await fleet.cli(['nodes', 'pending']);
    assert.match(pending.stdout, /ship2\s+pending/);
    assert.equal(up(ship), false);
    const accept = await fleet.cli(['nodes', 'accept', 'ship2']);
    assert.equal(accept.code, 0, accept.stderr);
    await until('ship2 up', () => up(ship), ship);
    const run = await fleet.cli(['run', '--nodes', 'ship2', '--', 'echo', 'accepted']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
  });

  test('nodes reject refuses a waiting node, which exits with the reason', async (t) => {
    const fleet = await startSecureFleet(t);
    const ship = fleet.node('ship3', ['--ca-fingerprint', fleet.fingerprint]);
    await until('ship3 pending', () => /waiting to be accepted/.test(ship.output()), ship);
    const reject = await fleet.cli(['nodes', 'reject', 'ship3', '--reason', 'not ours']);
    assert.equal(reject.code, 0, reject.stderr);
    const code = await ship.exited;
    assert.notEqual(code, 0);
    assert.match(ship.output(), /central refused to enrol node ship3: .*not ours/);
  });

  test('an expired or revoked token does not admit a node: it waits for an operator', async (t) => {
    const fleet = await startSecureFleet(t);
    const made = await fleet.cli(['tokens', 'create', '--ttl', '1s']);
    assert.equal(made.code, 0, made.stderr);
    const shortLived = made.stdout.trim();
    await new Promise((r) => setTimeout(r, 1200));
    const late = fleet.node('late', ['--join', shortLived, '--ca-fingerprint', fleet.fingerprint]);
    await until('late pending', () => /expired.*waiting/.test(late.output()), late);

    const revoke = await fleet.cli(['tokens', 'revoke', fleet.token.split('.')[0]]);
    assert.equal(revoke.code, 0, revoke.stderr);
    const list = await fleet.cli(['tokens', 'list']);
    assert.match(list.stdout, new RegExp(`${fleet.token.split('.')[0]}\\s+revoked`));
    const refused = fleet.node('refused');
    await until('refused pending', () => /was revoked.*waiting/.test(refused.output()), refused);
    assert.equal(up(late) || up(refused), false);
    const pending = await fleet.cli(['nodes', 'pending']);
    assert.match(pending.stdout, /late\s+pending/);
    assert.match(pending.stdout, /refused\s+pending/);
  });

  test('a revoked node is disconnected and cannot connect again', async (t) => {
    const fleet = await startSecureFleet(t);
    const ship = fleet.node('ship4');
    await until('ship4 up', () => up(ship), ship);
    const revoke = await fleet.cli(['nodes', 'revoke', 'ship4']);
    assert.equal(revoke.code, 0, revoke.stderr);
    assert.match(revoke.stdout, /1 connection closed/);
    await until(
      'ship4 disconnected',
      () => /disconnected from the broker|Authorization/i.test(ship.output()),
      ship,
    );
    // Its own key no longer authenticates.
    const seed = readFileSync(join(fleet.dir, 'ship4', 'identity.seed'), 'utf8').trim();
    await assert.rejects(
      connect({
        servers: fleet.url.replace('tls://', ''),
        authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
        tls: { caFile: join(fleet.dir, 'ship4', 'fleet-ca.pem') },
        reconnect: false,
      }),
      /authorization violation/i,
    );
  });

  test('messages queued for a revoked node end cancelled and never reach a new key under its name', async (t) => {
    const fleet = await startSecureFleet(t);
    const old = fleet.node('ship7');
    await until('ship7 up', () => up(old), old);
    await stop(old);
    const marker = join(fleet.dir, 'ran-on-ship7');
    await writeFile(
      join(fleet.dir, 'touch.json'),
      JSON.stringify([
        { toNode: 'ship7', method: 'REQCliCommand', methodArgs: ['touch', marker], ttl: 600 },
      ]),
    );
    const sent = await fleet.cli([
      'send',
      join(fleet.dir, 'touch.json'),
      '--data-dir',
      'admiral-data',
    ]);
    assert.equal(sent.code, 0, sent.stderr);
    const id = sent.stdout.trim();
    const revoke = await fleet.cli(['nodes', 'revoke', 'ship7']);
    assert.equal(revoke.code, 0, revoke.stderr);
    // Someone else enrols under the name with a new key and a valid token.
    // (The last --data-dir wins: a new data dir, so a new key.)
    const impostor = fleet.node('ship7', [
      '--data-dir',
      join(fleet.dir, 'ship7-new'),
      '--join',
      fleet.token,
      '--ca-fingerprint',
      fleet.fingerprint,
    ]);
    await until('the new ship7 up', () => up(impostor), impostor);
    const messages = await fleet.cli([
      '--format',
      'json',
      'messages',
      '--data-dir',
      'admiral-data',
    ]);
    assert.equal(messages.code, 0, messages.stderr);
    const row = (
      JSON.parse(messages.stdout) as { id: string; state: string; error?: string }[]
    ).find((m) => m.id === id);
    assert.equal(row?.state, 'cancelled');
    assert.match(row?.error ?? '', /revoked/);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(existsSync(marker), false, 'the queued command ran under the revoked name');
  });

  test("a node cannot publish to another node's subjects", async (t) => {
    const fleet = await startSecureFleet(t);
    const ship = fleet.node('ship5');
    await until('ship5 up', () => up(ship), ship);
    const seed = readFileSync(join(fleet.dir, 'ship5', 'identity.seed'), 'utf8').trim();
    const nc = await connect({
      servers: fleet.url.replace('tls://', ''),
      authenticator: nkeyAuthenticator(new TextEncoder().encode(seed)),
      tls: { caFile: join(fleet.dir, 'ship5', 'fleet-ca.pem') },
      inboxPrefix: '_INBOX_ship5',
      reconnect: false,
    });
    t.after(() => nc.close());
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.error));
    })();
    nc.publish('adm.node.ship6.REQCliCommand', 'x');
    nc.publish('adm.evt.central.online', 'x');
    await nc.flush();
    await until('permission violations', () => errors.length >= 2, fleet.central);
    assert.match(
      errors.join('\n'),
      /Permissions Violation for Publish to "adm.node.ship6.REQCliCommand"/,
    );
    assert.match(
      errors.join('\n'),
      /Permissions Violation for Publish to "adm.evt.central.online"/,
    );
  });

  test('a wrong CA fingerprint aborts the join before anything is sent', async (t) => {
    const fleet = await startSecureFleet(t);
    const wrong = 'ab'.repeat(32);
    const ship = fleet.node('ship7', ['--join', fleet.token, '--ca-fingerprint', wrong]);
    const code = await ship.exited;
    assert.notEqual(code, 0);
    assert.match(ship.output(), new RegExp(`presented no CA with SHA-256 fingerprint ${wrong}`));
    assert.match(ship.output(), new RegExp(fleet.fingerprint));
    const pending = await fleet.cli(['nodes', 'pending', '--any-state']);
    assert.doesNotMatch(pending.stdout, /ship7/);
  });
});

test('a joined node and a secure central both restart: the node comes back on its saved credentials', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-join-restart-'));
  const procs: Proc[] = [];
  t.after(async () => {
    for (const p of procs.reverse()) await stop(p);
    await rm(dir, { recursive: true, force: true });
  });
  const port = await closedTcpPort();
  const startCentral = async (): Promise<Proc> => {
    const c = spawnAdmiral(secureUpArgs(dir, port), dir);
    procs.push(c);
    await until('admiral up', () => /--ca-fingerprint \S+/.test(c.output()), c);
    return c;
  };
  let central = await startCentral();
  const m = /--broker (tls:\/\/\S+) --join (\S+) --ca-fingerprint ([0-9a-f]{64})/.exec(
    central.output(),
  );
  assert.ok(m, central.output());
  const [, url, token, fingerprint] = m;
  const shipDir = join(dir, 'ship1');
  const startShip = async (args: readonly string[]): Promise<Proc> => {
    const s = spawnAdmiral(['node', 'start', '--data-dir', shipDir, ...args], dir);
    procs.push(s);
    await until('ship1 up', () => up(s), s);
    return s;
  };
  const runEcho = async (word: string): Promise<void> => {
    const r = await runCli(['run', '--nodes', 'ship1', '--', 'echo', word], dir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(word));
  };

  let ship = await startShip([
    '--name',
    'ship1',
    '--broker',
    url!,
    '--join',
    token!,
    '--ca-fingerprint',
    fingerprint!,
    '--hello-interval',
    '1',
  ]);
  await runEcho('first');

  // The node restarts with nothing but its data dir: name, broker, key and CA are saved there.
  await stop(ship);
  ship = await startShip([]);
  assert.doesNotMatch(ship.output(), /waiting to be accepted/);
  await runEcho('second');

  // Central restarts on the same address: it loads the enrolled nodes' users again, and the node,
  // which kept reconnecting, is let back in.
  await stop(central);
  central = await startCentral();
  await until(
    'ship1 reconnected',
    () => /reconnected to the broker/i.test(ship.output()),
    ship,
    40_000,
  );
  await runEcho('third');
});
