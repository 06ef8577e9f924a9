import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, errors, type NatsConnection, nkeyAuthenticator } from '@nats-io/transport-node';
import { runCli, startFleet } from '../helpers/fleet.js';
import { startNatsServer } from '../helpers/nats-server.js';

// A fleet on Debian's nats-server, every node authenticated by its own identity (an nkey) and
// confined by the permissions `admiral keys nats-user` prints: the job path works end to end, and
// a node can neither send to nor listen on another node's subjects.

/** The next error the server reports on this connection (a permissions violation). */
async function nextServerError(nc: NatsConnection, timeoutMs = 3000): Promise<Error | undefined> {
  const timer = setTimeout(() => void nc.close(), timeoutMs);
  try {
    for await (const s of nc.status()) if (s.type === 'error') return s.error;
  } finally {
    clearTimeout(timer);
  }
  return undefined;
}

test('nodes confined by `admiral keys nats-user` on nats-server run a job; a node cannot reach another', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-nats-users-'));
  const seed = (name: string): string =>
    join(dir, name === 'central' ? 'admiral-data' : name, 'identity.seed');
  const user = async (name: string, extra: readonly string[] = []): Promise<string> => {
    const dataDir = join(dir, name === 'central' ? 'admiral-data' : name);
    const r = await runCli(
      ['keys', 'nats-user', '--data-dir', dataDir, '--name', name, ...extra],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const central = await user('central', ['--unrestricted']);
  const ship1 = await user('ship1');
  const ship2 = await user('ship2');
  assert.match(central, /^# central \(unrestricted\)/);
  assert.doesNotMatch(central, /permissions/);
  assert.match(ship1, /"adm\.node\.ship1\.\*"/);
  assert.doesNotMatch(ship1, /ship2/);

  const server = await startNatsServer(t, {
    config: `authorization {\n  users = [\n${[central, ship1, ship2].join('\n')}\n  ]\n}\n`,
  });
  if (server === undefined) return;
  t.after(() => server.stop());
  const fleet = await startFleet(t, {
    dir,
    nodes: [],
    brokerUrl: server.url,
    nodeArgs: ['--nkey-seed-file', seed('central')],
  });
  await fleet.startNode('ship1', ['--nkey-seed-file', seed('ship1')]);
  await fleet.startNode('ship2', ['--nkey-seed-file', seed('ship2')]);

  // Hellos reach the inventory; a job runs on every node and its results come back.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await fleet.cli(['nodes', '--online', '--format', 'csv-noheader', '--cols', 'node']);
    if (r.stdout.split('\n').filter(Boolean).length === 3) break;
    assert.ok(Date.now() < deadline, `three nodes online: ${r.stdout}${r.stderr}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  const run = await fleet.cli(['run', '--all', '--', 'sh', '-c', 'echo ran on $PWD']);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  for (const n of ['central', 'ship1', 'ship2'])
    assert.match(run.stdout, new RegExp(`^${n}: completed, exit 0$`, 'm'));
  const ping = await fleet.cli(['ping', '--all', '--format', 'json']);
  assert.equal(ping.code, 0, ping.stderr);
  assert.deepEqual((JSON.parse(ping.stdout) as { missing: string[] }).missing, []);

  // The CLI on ship1's machine speaks as ship1 (its key, its reply inboxes): central answers,
  // and refuses, since it does not trust ship1's key for its services.
  const asNode = await fleet.cli(['nodes', '--data-dir', join(dir, 'ship1')]);
  assert.equal(asNode.code, 1);
  assert.match(asNode.stderr, /inventory query refused: .*untrusted key .*admiral trust add/);

  // ship1's own credentials: another node's subjects are refused by the server.
  const asShip1 = await connect({
    servers: server.url,
    authenticator: nkeyAuthenticator(
      new TextEncoder().encode(readFileSync(seed('ship1'), 'utf8').trim()),
    ),
  });
  t.after(() => asShip1.close());
  let err = nextServerError(asShip1);
  asShip1.publish('adm.node.ship2.REQCliCommand', 'x');
  let e = await err;
  assert.ok(e instanceof errors.PermissionViolationError, String(e));
  assert.equal(e.operation, 'publish');
  assert.equal(e.subject, 'adm.node.ship2.REQCliCommand');
  err = nextServerError(asShip1);
  asShip1.subscribe('adm.node.ship2.*');
  e = await err;
  assert.ok(e instanceof errors.PermissionViolationError, String(e));
  assert.equal(e.operation, 'subscription');
});
