import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { CLI, runCli } from '../helpers/fleet.js';

// bpbroker's operator commands on a node's data dir: configure, install-service,
// uninstall-service, and service restore's refusals. No broker needed.

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'admiral-admin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('configure merges a JSON file into the config file, keeping what it said', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const first = join(dir, 'first.json');
  writeFileSync(
    first,
    JSON.stringify({ nodeName: 'n1', central: { registry: { backupFreqSecs: 600 } } }),
  );
  const r1 = await runCli(['--data-dir', dataDir, 'configure', '--config-file', first], dir);
  assert.deepEqual([r1.code, r1.stdout, r1.stderr], [0, `${join(dataDir, 'config.yaml')}\n`, '']);
  const second = join(dir, 'second.json');
  writeFileSync(second, JSON.stringify({ central: { discovery: { port: 20444 } } }));
  const r2 = await runCli(['configure', '--config-file', second, '--data-dir', dataDir], dir);
  assert.equal(r2.code, 0, r2.stderr);
  const { config } = loadConfig({ flags: { dataDir }, env: {} });
  assert.equal(config.nodeName, 'n1');
  assert.equal(config.central.registry.backupFreqSecs, 600);
  assert.equal(config.central.discovery.port, 20444);
});

test('configure refuses a file that does not fit the schema, naming the key, and writes nothing', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ central: { discovery: { port: 'high' } } }));
  const r = await runCli(['--data-dir', dataDir, 'configure', '--config-file', bad], dir);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^Fatal error: .*`central\.discovery\.port`.*number.*\n$/);
  assert.equal(existsSync(join(dataDir, 'config.yaml')), false);
  writeFileSync(bad, '{"central": {"registry": {"backupFrequency": 5}}}');
  const r2 = await runCli(['--data-dir', dataDir, 'configure', '--config-file', bad], dir);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /central\.registry\.backupFrequency/);
});

test('install-service prints or writes a systemd unit running node start; uninstall removes it', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const units = join(dir, 'units');
  const conf = join(dir, 'c.json');
  writeFileSync(conf, '{"nodeName": "ship7"}');
  assert.equal(
    (await runCli(['--data-dir', dataDir, 'configure', '--config-file', conf], dir)).code,
    0,
  );
  const file = join(units, 'admiral-ship7.service');

  const dry = await runCli(
    ['--data-dir', dataDir, 'install-service', '--dry-run', '--unit-dir', units],
    dir,
  );
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(dry.stderr, '');
  const lines = dry.stdout.split('\n');
  assert.equal(lines[0], `# ${file}`);
  assert.ok(lines.includes('[Unit]') && lines.includes('[Service]') && lines.includes('[Install]'));
  assert.ok(
    lines.includes(`ExecStart=${process.execPath} ${CLI} node start --data-dir ${dataDir}`),
    dry.stdout,
  );
  assert.ok(lines.includes('WantedBy=multi-user.target'));
  // Running commands survive a restart of the service (the next start reattaches to them).
  assert.ok(lines.includes('KillMode=process'), dry.stdout);
  assert.equal(existsSync(file), false, '--dry-run writes nothing');

  const inst = await runCli(
    ['--data-dir', dataDir, 'install-service', '--unit-dir', units, '--no-enable'],
    dir,
  );
  assert.deepEqual([inst.code, inst.stdout, inst.stderr], [0, `${file}\n`, '']);
  assert.equal(readFileSync(file, 'utf8'), dry.stdout.slice(dry.stdout.indexOf('\n') + 1));

  const dryUn = await runCli(
    ['--data-dir', dataDir, 'uninstall-service', '--unit-dir', units, '--dry-run'],
    dir,
  );
  assert.deepEqual(
    [dryUn.code, dryUn.stdout],
    [0, `# would disable admiral-ship7.service and remove ${file}\n`],
  );
  assert.ok(existsSync(file));
  const un = await runCli(
    ['--data-dir', dataDir, 'uninstall-service', '--unit-dir', units, '--no-enable'],
    dir,
  );
  assert.deepEqual([un.code, un.stdout, un.stderr], [0, `${file}\n`, '']);
  assert.equal(existsSync(file), false);
});

test('install-service needs a node in the data dir', async (t) => {
  const dir = tempDir(t);
  const r = await runCli(['--data-dir', join(dir, 'none'), 'install-service', '--dry-run'], dir);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /^Fatal error: no node in .*none: start it once with `admiral node start --name NAME`/,
  );
});

test('service restore refuses a file that is not a registry backup', async (t) => {
  const dir = tempDir(t);
  const bad = join(dir, 'x.json');
  writeFileSync(bad, '{"hello": 1}');
  const r = await runCli(
    ['--data-dir', join(dir, 'data'), 'service', 'restore', '--backup', bad],
    dir,
  );
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^Fatal error: ${bad} is not a registry backup: .+\\n$`));
  assert.equal(existsSync(join(dir, 'data')), false, 'no database was created');
});

test("service restore needs the central's database", async (t) => {
  const dir = tempDir(t);
  const backup = join(dir, 'b.json');
  writeFileSync(
    backup,
    JSON.stringify({ format: 'admiral-registry-backup', version: 1, createdAt: '', entries: [] }),
  );
  const r = await runCli(
    ['--data-dir', join(dir, 'data'), 'service', 'restore', '--backup', backup],
    dir,
  );
  assert.deepEqual(
    [r.code, r.stdout, r.stderr],
    [
      1,
      '',
      `Fatal error: no node database in ${join(dir, 'data')} (give the central's --data-dir)\n`,
    ],
  );
});

test('install-service for a data dir run by `admiral up` starts `up` again with the same network flags', async (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const up = spawn(
    process.execPath,
    [CLI, 'up', '--broker-port', '0', '--http-listen', '127.0.0.1:0', '--data-dir', dataDir],
    {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ADMIRAL_CENTRAL__DISCOVERY__PORT: '0' },
    },
  );
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`up did not start:\n${out}`)), 20_000);
    const on = (d: Buffer): void => {
      out += d.toString();
      if (/admiral is up[\s\S]*data dir:/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    up.stdout.on('data', on);
    up.stderr.on('data', on);
  });
  const exited = new Promise((r) => up.once('exit', r));
  up.kill('SIGTERM');
  await exited;

  const units = join(dir, 'units');
  const dry = await runCli(
    ['--data-dir', dataDir, 'install-service', '--dry-run', '--unit-dir', units],
    dir,
  );
  assert.equal(dry.code, 0, dry.stderr);
  const lines = dry.stdout.split('\n');
  assert.equal(lines[0], `# ${join(units, 'admiral-central.service')}`);
  assert.ok(
    lines.includes(
      `ExecStart=${process.execPath} ${CLI} up --broker-port 0 --http-listen 127.0.0.1:0 --data-dir ${dataDir}`,
    ),
    dry.stdout,
  );
  assert.ok(lines.some((l) => l.startsWith('Description=admiral (embedded broker')));

  const conf = join(dir, 'c.json');
  writeFileSync(conf, '{}');
  const refused = await runCli(
    ['--data-dir', dataDir, 'install-service', '--dry-run', '--unit-dir', units, '--config', conf],
    dir,
  );
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^Fatal error: .* is run by `admiral up`.*takes no --config/);
});
