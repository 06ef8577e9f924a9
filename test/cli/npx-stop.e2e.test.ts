import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, startFleet } from '../helpers/fleet.js';

// README: `npx admiral node start --name ship1 --data-dir ship1 &`, then `kill PID`. The pid is
// npm's, and npm exec exits on SIGTERM without passing it on to the admiral it started.

test('killing the pid of `npx admiral node start … &` stops the node cleanly', async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  // A project whose node_modules/.bin holds admiral, as after `npm ci`: npm exec runs it from there.
  const project = join(fleet.dir, 'project');
  await mkdir(join(project, 'node_modules', '.bin'), { recursive: true });
  await writeFile(join(project, 'package.json'), '{"name":"ops","private":true}\n');
  const bin = join(project, 'node_modules', '.bin', 'admiral');
  await writeFile(bin, `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  await chmod(bin, 0o755);

  const npx = spawn(
    'npm',
    [
      'exec',
      '--',
      'admiral',
      'node',
      'start',
      '--name',
      'ship1',
      '--data-dir',
      join(fleet.dir, 'ship1'),
      '--broker',
      fleet.brokerUrl,
    ],
    { cwd: project, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  npx.stdout.on('data', (d: Buffer) => (output += d.toString()));
  npx.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const npxExited = new Promise((r) => npx.once('exit', r));
  t.after(() => {
    npx.kill('SIGKILL');
    // Should the admiral outlive npm, its end of the pipes must not keep this test alive.
    npx.stdout.destroy();
    npx.stderr.destroy();
  });

  const state = async (): Promise<string | undefined> => {
    const r = await fleet.cli(['nodes', 'ship1', '--format', 'json', '--cols', 'lastEvent']);
    return (JSON.parse(r.stdout || '[]') as { lastEvent: string }[])[0]?.lastEvent;
  };
  const until = async (what: string, pred: () => Promise<boolean>): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (!(await pred())) {
      assert.ok(Date.now() < deadline, `${what} did not happen within 30 s; output:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await until(
    'ship1 coming online',
    async () => /node ship1 is up/.test(output) && (await state()) !== undefined,
  );

  npx.kill('SIGTERM');
  await npxExited;
  // Stopped cleanly: its own offline event, not central noticing its hellos stopped (`stale`).
  await until('ship1 saying offline', async () => (await state()) === 'offline');
});
