import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { generateIdentity, identityFromSeed } from '../../src/protocol/index.js';
import { CLI } from '../helpers/fleet.js';

// Discovery across a real broadcast domain: the central in one network namespace, the client in
// another, joined by a veth pair (10.x addresses that exist inside the namespaces only). Needs
// root and `ip netns`; without them the test is skipped with the reason, or fails when
// ADMIRAL_REQUIRE_NETNS=1 (CI).

function ip(args: readonly string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why namespaces cannot be used here, or undefined when they can. */
function netnsUnavailable(probe: string): string | undefined {
  try {
    ip(['netns', 'add', probe]);
    ip(['netns', 'del', probe]);
    return undefined;
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    return `ip netns is unavailable (${stderr || (err as Error).message}); discovery across namespaces needs root and iproute2`;
  }
}

function run(
  ns: string,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function startCentral(t: TestContext, ns: string, dataDir: string): Promise<ChildProcess> {
  // `ip netns exec` execs node in place, so the child's pid is the central's.
  const child = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      process.execPath,
      CLI,
      'up',
      '--broker-port',
      '0',
      '--http-listen',
      '127.0.0.1:0',
      '--data-dir',
      dataDir,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      // The broker stays on loopback (local mode), where discovery would listen on 127.0.0.1 too:
      // this central is configured to answer the namespace's network, as on a LAN host.
      env: { ...process.env, ADMIRAL_CENTRAL__DISCOVERY__LISTEN: '0.0.0.0' },
    },
  );
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`central did not start:\n${out}`)), 20_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (/admiral is up[\s\S]*data dir:/.test(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`central exited with ${code}:\n${out}`));
    });
  });
}

test('discover finds the central across network namespaces joined by a veth pair', async (t) => {
  const tag = `${process.pid % 100000}${Math.floor(Math.random() * 1000)}`;
  const unavailable = netnsUnavailable(`admprobe${tag}`);
  if (unavailable !== undefined) {
    if (process.env.ADMIRAL_REQUIRE_NETNS === '1') assert.fail(unavailable);
    t.skip(unavailable);
    return;
  }
  const central = `admc${tag}`;
  const client = `admk${tag}`;
  // A /24 of 10/8 picked at random, so parallel runs do not share addresses; it exists only
  // inside the two namespaces.
  const net = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
  const dir = mkdtempSync(join(tmpdir(), 'admiral-netns-'));
  t.after(() => {
    for (const ns of [central, client]) {
      try {
        ip(['netns', 'del', ns]);
      } catch {
        // not created
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
  ip(['netns', 'add', central]);
  ip(['netns', 'add', client]);
  const va = `va${tag}`.slice(0, 15);
  const vb = `vb${tag}`.slice(0, 15);
  ip(['link', 'add', va, 'netns', central, 'type', 'veth', 'peer', 'name', vb, 'netns', client]);
  ip(['-n', central, 'addr', 'add', `${net}.1/24`, 'broadcast', '+', 'dev', va]);
  ip(['-n', client, 'addr', 'add', `${net}.2/24`, 'broadcast', '+', 'dev', vb]);
  for (const [ns, dev] of [
    [central, va],
    [client, vb],
  ] as const) {
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', ns, 'link', 'set', dev, 'up']);
  }
  // As on an ordinary LAN host: 255.255.255.255 leaves by the default route.
  ip(['-n', client, 'route', 'add', 'default', 'dev', vb]);

  const centralDir = join(dir, 'central');
  await startCentral(t, central, centralDir);
  const reg = await run(central, [
    '--data-dir',
    centralDir,
    'service',
    'register',
    '--name',
    'foo-cluster1',
    '--data',
    'x',
  ]);
  assert.deepEqual([reg.code, reg.stdout, reg.stderr], [0, 'x\n', '']);
  const key = identityFromSeed(readFileSync(join(centralDir, 'identity.seed'))).publicKey;
  const clientDir = join(dir, 'client');

  // Defaults: port 20443, broadcast 255.255.255.255.
  const found = await run(client, ['--data-dir', clientDir, 'discover', '--name', 'foo-cluster1']);
  assert.deepEqual([found.code, found.stdout, found.stderr], [0, `${net}.1\n`, '']);

  const subnet = await run(client, [
    '--data-dir',
    clientDir,
    'discover',
    '--name',
    'foo-cluster1',
    '--broadcast',
    `${net}.255`,
    '--trust-key',
    key,
  ]);
  assert.deepEqual([subnet.code, subnet.stdout, subnet.stderr], [0, `${net}.1\n`, '']);

  const untrusted = await run(client, [
    '--data-dir',
    clientDir,
    'discover',
    '--name',
    'foo-cluster1',
    '--timeout',
    '1s',
    '--trust-key',
    generateIdentity().publicKey,
  ]);
  assert.deepEqual(
    [untrusted.code, untrusted.stdout, untrusted.stderr],
    [1, '', "Fatal error: no central answered discovery of 'foo-cluster1' within 1 s\n"],
  );

  const unknown = await run(client, [
    '--data-dir',
    clientDir,
    'discover',
    '--name',
    'foo-cluster2',
    '--timeout',
    '1s',
  ]);
  assert.deepEqual(
    [unknown.code, unknown.stdout, unknown.stderr],
    [1, '', "Fatal error: no central answered discovery of 'foo-cluster2' within 1 s\n"],
  );
});
