import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadBrokerConfigFile } from '../../src/broker/conf.js';
import { connect } from '@nats-io/transport-node';
import { CLI } from '../helpers/fleet.js';
import { requireNatsServer } from '../helpers/nats-server.js';
import { forEachBroker, RawClient } from './brokers.js';

// Server lifecycle as nats-server 2.9.10 has it: lame duck mode and the ports file.

/** Whether a TCP connection to the port is accepted. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ port, host: '127.0.0.1' }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

const INFO_RE = /INFO (\{.*?\}) \r\n/g;

forEachBroker(
  'lame duck mode stops accepting, sends INFO ldm to clients that take INFO updates, then closes them',
  async (t, b) => {
    // protocol 1 and a PING answered: the client takes asynchronous INFO (route.go).
    const modern = await RawClient.open(t, b.port);
    modern.write('CONNECT {"verbose":false,"protocol":1}\r\nPING\r\n');
    assert.ok(await modern.waitFor((s) => s.includes('PONG\r\n')));
    const old = await RawClient.open(t, b.port);
    old.write('CONNECT {"verbose":false,"protocol":0}\r\nPING\r\n');
    assert.ok(await old.waitFor((s) => s.includes('PONG\r\n')));
    const first = JSON.parse([...modern.text.matchAll(INFO_RE)][0]![1]!) as Record<string, unknown>;

    b.lameDuck();
    assert.ok(
      await modern.waitFor((s) => [...s.matchAll(INFO_RE)].length === 2),
      `no second INFO: ${modern.text}`,
    );
    const ldm = JSON.parse([...modern.text.matchAll(INFO_RE)][1]![1]!) as Record<string, unknown>;
    assert.equal(ldm.ldm, true);
    // The same INFO as on connect, plus `ldm`.
    assert.deepEqual(Object.keys(ldm), [...Object.keys(first), 'ldm']);
    assert.equal(ldm.client_id, first.client_id);
    assert.equal(await accepts(b.port), false, 'a new connection is refused');
    // Both clients are closed over the lame duck duration (grace 100 ms, then ≤ 1 s apart).
    await Promise.all([modern.closedAt, old.closedAt]);
    assert.equal([...old.text.matchAll(INFO_RE)].length, 1, 'no INFO update for protocol 0');
    assert.ok(!modern.text.includes('-ERR'), modern.text);
  },
  { config: 'lame_duck_duration: "30s"\nlame_duck_grace_period: "100ms"\n' },
);

let portsDir = '';
forEachBroker(
  'ports_file_dir writes <exe>_<pid>.ports with the client and monitoring URLs',
  async (t, b) => {
    const dir = portsDir;
    t.after(() => rm(dir, { recursive: true, force: true }));
    // nats-server writes the file from a goroutine once its listeners are up (created first,
    // then written): allow it a moment, until the file is there and whole.
    let files: string[] = [];
    let ports: unknown;
    for (let i = 0; i < 60 && ports === undefined; i++) {
      files = (await readdir(dir)).filter((f) => f.endsWith('.ports'));
      const text = files.length === 1 ? await readFile(join(dir, files[0]!), 'utf8') : '';
      try {
        ports = JSON.parse(text) as unknown;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.equal(files.length, 1, `ports files: ${files.join(', ')}`);
    assert.match(files[0]!, /^[^/]+_\d+\.ports$/);
    assert.deepEqual(ports, {
      nats: [`nats://127.0.0.1:${b.port}`],
      monitoring: [b.monitorUrl],
    });
  },
  {
    config: async () => {
      portsDir = await mkdtemp(join(tmpdir(), 'admiral-ports-'));
      return `ports_file_dir: "${portsDir}"\nhttp_port: -1\n`;
    },
  },
);

test('a lame_duck_duration under 30 s is refused, with nats-server’s text', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-ldm-conf-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'ldm.conf');
  await writeFile(file, 'lame_duck_duration: "10s"\n');
  const text = 'invalid lame_duck_duration of 10s, minimum is 30 seconds';
  await assert.rejects(loadBrokerConfigFile(file), (err: Error) => err.message.includes(text));
  const bin = requireNatsServer(t);
  if (bin === undefined) return;
  const r = spawnSync(bin, ['-t', '-c', file], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.ok(`${r.stdout}${r.stderr}`.includes(text), r.stderr);
});

forEachBroker(
  'a nats.js client reports lame duck mode as an ldm status',
  async (t, b) => {
    const nc = await connect({ servers: b.url, reconnect: false });
    t.after(() => nc.close());
    await nc.flush();
    const ldm = (async () => {
      for await (const s of nc.status()) if (s.type === 'ldm') return true;
      return false;
    })();
    b.lameDuck();
    assert.equal(await ldm, true);
  },
  { config: 'lame_duck_duration: "30s"\nlame_duck_grace_period: "100ms"\n' },
);

// nats.js's doublesubs test reads the server's trace for the SUBs a reconnecting client resends.
for (const kind of ['embedded', 'nats-server'] as const) {
  test(`trace: true logs each operation a client sends as <<- [SUB subject sid] [${kind}]`, async (t) => {
    const bin = kind === 'nats-server' ? requireNatsServer(t) : process.execPath;
    if (bin === undefined) return;
    const dir = await mkdtemp(join(tmpdir(), 'admiral-trace-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'trace.conf');
    await writeFile(file, `listen: 127.0.0.1:-1\ntrace: true\nports_file_dir: "${dir}"\n`);
    const args = kind === 'nats-server' ? ['-c', file] : [CLI, 'broker', 'start', '-c', file];
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    let ports: { nats: string[] } | undefined;
    for (let i = 0; i < 200 && ports === undefined; i++) {
      const found = (await readdir(dir)).filter((f) => f.endsWith('.ports'));
      try {
        ports = JSON.parse(await readFile(join(dir, found[0] ?? 'none'), 'utf8')) as {
          nats: string[];
        };
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.ok(ports, `no ports file; log:\n${log}`);
    const nc = await connect({ servers: ports.nats[0], reconnect: false });
    t.after(() => nc.close());
    nc.subscribe('trace.me');
    nc.subscribe('trace.q', { queue: 'workers' });
    await nc.flush();
    for (let i = 0; i < 100 && !log.includes('[SUB trace.q workers 2]'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(log, /<<- \[SUB trace\.me 1\]/);
    assert.match(log, /<<- \[SUB trace\.q workers 2\]/);
  });
}
