import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { spawnDetached, stopSpawner } from '../../src/methods/spawner.js';

// The spawner helper (src/methods/spawner.ts): commands are forked by a small helper process,
// not by the node; they lead their own process group; their exit reaches the node; a helper
// that dies mid-run is replaced and its runs are still seen to end.

function stat(pid: number): { ppid: number; pgrp: number } {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(rest[1]), pgrp: Number(rest[2]) };
}

const opts = { cwd: '/', env: process.env };

test.after(() => stopSpawner());

test('a command is forked by the helper, leads its own group, and its exit code comes back', async () => {
  const run = await spawnDetached('/bin/sh', ['-c', 'sleep 0.3; exit 3'], opts);
  assert.ok(run.pid !== undefined);
  const s = stat(run.pid);
  assert.notEqual(s.ppid, process.pid, 'forked by the helper, not by this process');
  assert.equal(s.pgrp, run.pid, 'leads its own process group');
  const helperCmd = readFileSync(`/proc/${s.ppid}/cmdline`, 'utf8');
  assert.match(helperCmd, /spawner-child\.js/);
  assert.deepEqual(await run.ended, { code: 3, signal: null });
});

test('a program that cannot start ends with its error and no pid', async () => {
  const run = await spawnDetached('/nonexistent/program', [], opts);
  assert.equal(run.pid, undefined);
  const end = await run.ended;
  assert.ok(end instanceof Error);
  assert.match(end.message, /ENOENT/);
});

test('when the helper dies mid-run the run is still seen to end, and the next command gets a new helper', async () => {
  // The command leaves a process in the background, as `sleep 5 & tree ./` does: its end is
  // the leader's, not the whole group's.
  const run = await spawnDetached('/bin/sh', ['-c', 'sleep 3 & sleep 0.5'], opts);
  assert.ok(run.pid !== undefined);
  const helper = stat(run.pid).ppid;
  process.kill(helper, 'SIGKILL');
  const started = Date.now();
  const end = await run.ended;
  assert.ok(!(end instanceof Error));
  const took = Date.now() - started;
  assert.ok(took >= 200, `not reported ended before the command was (${took} ms)`);
  assert.ok(took < 2000, `not held up by its background process (${took} ms)`);
  try {
    process.kill(-run.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  const next = await spawnDetached('/bin/sh', ['-c', 'exit 0'], opts);
  assert.ok(next.pid !== undefined);
  assert.deepEqual(await next.ended, { code: 0, signal: null });
});

test('a helper whose node goes away while it answers exits quietly (no EPIPE crash)', async () => {
  const helperFile = fileURLToPath(new URL('../../src/methods/spawner-child.js', import.meta.url));
  for (let round = 0; round < 5; round++) {
    const helper = fork(helperFile, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    helper.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => helper.once('exit', resolve));
    // Many quick commands: their answers are still being written when the node disconnects.
    for (let id = 1; id <= 200; id++) {
      helper.send({ id, file: 'true', args: [], cwd: '/', env: { PATH: process.env.PATH } });
    }
    await new Promise<void>((resolve) => helper.once('message', () => resolve()));
    await new Promise((r) => setTimeout(r, round * 3));
    helper.disconnect();
    assert.equal(await exited, 0, stderr);
    assert.doesNotMatch(stderr, /EPIPE|Error/);
  }
});
