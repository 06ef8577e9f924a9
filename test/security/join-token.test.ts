import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI } from '../helpers/fleet.js';

// A join token admits a node once; it is a credential, so it is never written down: not into the
// node's config.yaml, its journal (audit table, outbox, inbox), its logs, nor any other file under
// its data dir (the SQLite database and its WAL included).

interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function spawnAdmiral(args: readonly string[], cwd: string): Proc {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ADMIRAL_JOIN__RETRY_INTERVAL: '1',
      ADMIRAL_CENTRAL__DISCOVERY__PORT: '0',
    },
  });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return { child, output: () => text, exited };
}

async function until(what: string, pred: () => boolean, proc: Proc, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline)
      throw new Error(`${what} did not happen in ${ms} ms:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  await p.exited;
  clearTimeout(timer);
}

/** Every file under `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    if (readFileSync(path).includes(needle)) found.push(path);
  }
  return found;
}

test('after `node start --join TOKEN` has enrolled, no file under the data dir holds the token', async (t) => {
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
  const secret = token.split('.').at(-1)!;
  const dataDir = join(dir, 'ship1');
  // Given as a flag, as the printed command has it.
  const joined = spawnAdmiral(
    [
      'node',
      'start',
      '--name',
      'ship1',
      '--data-dir',
      dataDir,
      '--broker',
      url,
      '--join',
      token,
      '--ca-fingerprint',
      fingerprint,
      '--hello-interval',
      '1',
    ],
    dir,
  );
  procs.push(joined);
  await until('ship1 up', () => /node ship1 is up/.test(joined.output()), joined);
  // A hello and a little traffic reach the journal before the node stops.
  await new Promise((r) => setTimeout(r, 1500));
  await stop(joined);
  assert.ok(readdirSync(dataDir).includes('admiral.db'), 'the node wrote its store');
  assert.deepEqual(
    filesContaining(dataDir, secret),
    [],
    'files under the data dir holding the token',
  );
  assert.ok(!joined.output().includes(secret), 'the token is not in what the node printed');
  const centralFiles = filesContaining(join(dir, 'admiral-data'), secret);
  assert.deepEqual(centralFiles, [], "central keeps the token's hash, not the token");
});
