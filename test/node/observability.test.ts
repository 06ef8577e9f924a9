import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import type { OutboxState } from '../../src/store/outbox.js';
import { type Fleet, startFleet } from '../helpers/fleet.js';
import { launchNatsServer, requireNatsServer } from '../helpers/nats-server.js';

// What an operator watches and configures on a node: status file, metrics, audit log,
// compression between nodes, and broker credentials that never leak into output.

const FINAL: readonly OutboxState[] = ['completed', 'failed', 'expired', 'rejected', 'interrupted'];

async function ping(fleet: Fleet, from: string, to: string): Promise<string> {
  const r = await fleet.send(from, [{ toNode: to, method: 'REQPing', replyMethod: 'REQNone' }]);
  assert.deepEqual(r.rejected, []);
  const [id] = r.accepted;
  assert.ok(id);
  const rec = await fleet.waitFor(from, id, FINAL);
  assert.equal(rec.state, 'completed', JSON.stringify(rec));
  return id;
}

test('the status file and `admiral status` report a healthy node with exit 0 and an unhealthy one with exit 1', async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  const statusFile = join(fleet.dir, 'ship1-status.json');
  const ship1 = await fleet.startNode('ship1', ['--status-file', statusFile]);
  const status = JSON.parse(await readFile(statusFile, 'utf8')) as Record<string, unknown>;
  assert.equal(status.identity, 'ship1');
  assert.match(String(status.connectedServer), /127\.0\.0\.1:\d+$/);

  const ok = await fleet.cli(['status', '--status-file', statusFile]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /OK/);
  // Without --status-file: the data dir's own status.json (central's, here).
  const central = await fleet.cli(['status', '--data-dir', 'admiral-data']);
  assert.equal(central.code, 0, central.stderr);
  assert.match(central.stdout, /admiral-data\/status\.json OK/);
  // ship1 has received nothing yet.
  const quiet = await fleet.cli(['status', '--status-file', statusFile, '--message-since', '10m']);
  assert.equal(quiet.code, 1);
  assert.match(quiet.stderr, /no recent messages: none received/);
  const missing = await fleet.cli(['status', '--status-file', join(fleet.dir, 'nope.json')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /does not exist/);

  // A crashed node stops updating its file: it is too old for --max-age.
  await ship1.kill9();
  let old = await fleet.cli(['status', '--status-file', statusFile, '--max-age', '1s']);
  const deadline = Date.now() + 10_000;
  while (old.code === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    old = await fleet.cli(['status', '--status-file', statusFile, '--max-age', '1s']);
  }
  assert.equal(old.code, 1);
  assert.match(old.stderr, /is too old/);
});

test('a node serves Prometheus metrics on --metrics-listen and appends every message to audit.log', async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  const ship1 = await fleet.startNode('ship1', ['--metrics-listen', '127.0.0.1:0']);
  const url = /metrics:\s+(http:\/\/\S+\/metrics)/.exec(ship1.output())?.[1];
  assert.ok(url, ship1.output());
  const id = await ping(fleet, 'ship1', 'central');

  const text = await (await fetch(url)).text();
  assert.match(text, /admiral_messages_total\{node="ship1",method="REQPing",state="completed"\} 1/);
  assert.match(text, /admiral_ack_latency_seconds_count\{node="ship1",method="REQPing"\} 1/);
  assert.match(text, /admiral_broker_connected\{node="ship1"\} 1/);
  assert.match(text, /# TYPE admiral_retries_total counter/);
  assert.match(text, /# TYPE admiral_outbox_depth gauge/);

  // One JSON line per event of the message, on both ends, with what is needed to resend it.
  const sent = (await readFile(join(ship1.dataDir, 'audit.log'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const enqueued = sent.find((l) => l.id === id && l.event === 'enqueued');
  assert.ok(enqueued, 'the sender logged the message');
  assert.equal((enqueued.message as { method?: string }).method, 'REQPing');
  const received = (await readFile(join(fleet.central.dataDir, 'audit.log'), 'utf8'))
    .split('\n')
    .filter((l) => l.includes(id))
    .map((l) => (JSON.parse(l) as { event: string }).event);
  assert.deepEqual(received.slice(0, 2), ['received', 'finished']);
});

test('messages between nodes sending gzip and zstd are compressed and understood', async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  await fleet.startNode('ship1', ['--compression', 'gzip']);
  await fleet.startNode('ship2', ['--compression', 'zstd']);
  const a = await ping(fleet, 'ship1', 'ship2');
  const b = await ping(fleet, 'ship2', 'ship1');
  assert.equal(fleet.record('ship1', a)?.envelope.subarray(0, 2).toString('hex'), '1f8b');
  assert.equal(fleet.record('ship2', b)?.envelope.subarray(0, 4).toString('hex'), '28b52ffd');
});

interface Auth {
  readonly name: string;
  /** nats-server `authorization` block (the embedded broker reads the same). */
  readonly conf: string;
  readonly args: readonly string[];
  readonly secret: string;
}

async function auths(dir: string): Promise<Auth[]> {
  const user = createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  const seedFile = join(dir, 'node.nk');
  await writeFile(seedFile, `${seed}\n`, { mode: 0o600 });
  return [
    {
      name: 'token',
      conf: 'authorization { token: "s3cret-token-XYZ" }',
      args: ['--token', 's3cret-token-XYZ'],
      secret: 's3cret-token-XYZ',
    },
    {
      name: 'user and password',
      conf: 'authorization { users: [ { user: "ops", password: "pa55-word-XYZ" } ] }',
      args: ['--user', 'ops', '--password', 'pa55-word-XYZ'],
      secret: 'pa55-word-XYZ',
    },
    {
      name: 'nkey',
      conf: `authorization { users: [ { nkey: "${user.getPublicKey()}" } ] }`,
      args: ['--nkey-seed-file', seedFile],
      secret: seed,
    },
  ];
}

for (const kind of ['embedded broker', 'nats-server'] as const) {
  test(`nodes connect to the ${kind} with a token, a user and password, or an nkey, and never print the secret`, async (t) => {
    const bin = kind === 'nats-server' ? requireNatsServer(t) : undefined;
    if (kind === 'nats-server' && bin === undefined) return;
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'admiral-auth-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    for (const auth of await auths(dir)) {
      let url: string;
      let stopBroker: () => Promise<void>;
      if (bin !== undefined) {
        const server = await launchNatsServer(bin, { config: auth.conf });
        url = server.url;
        stopBroker = () => server.stop();
      } else {
        const conf = join(dir, `${auth.name.replace(/ /g, '-')}.conf`);
        await writeFile(conf, `port: 0\n${auth.conf}\n`);
        const { spawn } = await import('node:child_process');
        const { CLI } = await import('../helpers/fleet.js');
        const child = spawn(process.execPath, [CLI, 'broker', 'start', '--config', conf], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        url = await new Promise<string>((resolve, reject) => {
          let out = '';
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            const m = /broker listening on (nats:\/\/\S+)/.exec(out);
            if (m?.[1]) resolve(m[1]);
          });
          child.once('exit', (code) => reject(new Error(`broker exited ${code}: ${out}`)));
        });
        stopBroker = async () => {
          child.kill('SIGKILL');
        };
      }
      try {
        const fleet = await startFleet(t, {
          brokerUrl: url,
          nodes: ['ship1'],
          nodeArgs: [...auth.args, '--log-level', 'debug'],
        });
        await ping(fleet, 'ship1', 'central');
        for (const proc of [fleet.central, fleet.nodes.get('ship1')]) {
          assert.ok(proc);
          assert.doesNotMatch(proc.output(), new RegExp(auth.secret), `${auth.name}: output leaks`);
        }
        // The process list (ps, /proc/PID/cmdline) of the running node shows the flag, not the
        // secret it was given.
        const ship1 = fleet.nodes.get('ship1');
        assert.ok(ship1?.child.pid !== undefined);
        const listed = readFileSync(`/proc/${ship1.child.pid}/cmdline`, 'utf8');
        assert.match(listed, /node[\0 ]start/, 'the process list still names the command');
        assert.doesNotMatch(listed, new RegExp(auth.secret), `${auth.name}: process list`);
        if (auth.name !== 'nkey') assert.match(listed, /\*\*\*/);
        const show = await fleet.cli([
          'config',
          'show',
          '--data-dir',
          join(fleet.dir, 'ship1'),
          ...auth.args,
        ]);
        assert.equal(show.code, 0, show.stderr);
        assert.doesNotMatch(show.stdout, new RegExp(auth.secret), `${auth.name}: config show`);
        await fleet.stop();
      } finally {
        await stopBroker();
      }
    }
  });
}
