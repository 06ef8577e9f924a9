import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { RawClient } from '../conformance/brokers.js';
import { CLI_BUNDLE } from '../../src/layout.js';

const CLI = CLI_BUNDLE;

// `admiral broker start` is started the way nats-server is: its flag spellings, a ports file to
// find the ports in, SIGUSR2 for lame duck mode.

test('broker start takes nats-server’s flags, writes a ports file and leaves on SIGUSR2 via lame duck mode', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-broker-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const conf = join(dir, 'broker.conf');
  await writeFile(conf, 'lame_duck_duration: "30s"\nlame_duck_grace_period: "100ms"\n');
  const args = ['-c', conf, '-p', '-1', '-m', '-1', '-ports_file_dir', dir, '--log-level', 'info'];
  const child = spawn(process.execPath, [CLI, 'broker', 'start', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const file = join(dir, `${basename(CLI)}_${child.pid}.ports`);
  let ports: { nats: string[]; monitoring: string[] } | undefined;
  for (let i = 0; i < 200 && ports === undefined; i++) {
    const names = await readdir(dir);
    if (names.includes(`${basename(CLI)}_${child.pid}.ports`)) {
      ports = JSON.parse(await readFile(file, 'utf8')) as typeof ports;
    } else {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  assert.ok(ports, `no ports file in ${dir}: ${out}`);
  const natsUrl = new URL(ports.nats[0]!);
  const health = await fetch(`${ports.monitoring[0]}/healthz`);
  assert.equal(await health.text(), '{"status":"ok"}');

  const c = await RawClient.open(t, Number(natsUrl.port));
  c.write('CONNECT {"verbose":false,"protocol":1}\r\nPING\r\n');
  assert.ok(await c.waitFor((s) => s.includes('PONG\r\n')));
  // SIGHUP reloads the file (nats-server's `--signal reload`) instead of ending the process.
  child.kill('SIGHUP');
  await new Promise((r) => setTimeout(r, 300));
  c.write('PING\r\n');
  assert.ok(await c.waitFor((s) => s.split('PONG').length === 3), `${c.text}\n${out}`);
  assert.match(out, /configuration reloaded/);
  child.kill('SIGUSR2');
  assert.ok(await c.waitFor((s) => s.includes('"ldm":true')), c.text);
  await c.closedAt;
  assert.equal(await exited, 0, out);
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.endsWith('.ports')),
    [],
    'the ports file is removed on exit',
  );
});
