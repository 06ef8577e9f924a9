import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RunEnd, RunRequest, RunStart } from '../../src/methods/run-files.js';
import { removeRunDir, spawnRun, stopSpawner } from '../../src/methods/spawner.js';
import type { SpawnReply } from '../../src/methods/spawner-child.js';

// The spawner helper (src/methods/spawner.ts, spawner-child.ts, run-files.ts): commands are
// started by a small helper process, not by the node, with no shell around them; they lead
// their own process group; the helper records their pid and exit code in the run directory and
// sends back the exit code and output; it outlives its node until its commands have ended; a
// helper that dies mid-run is replaced and its runs are still seen to end.

const helperFile = fileURLToPath(new URL('../../src/methods/spawner-child.js', import.meta.url));

function stat(pid: number): { ppid: number; pgrp: number } {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(rest[1]), pgrp: Number(rest[2]) };
}

async function tempRoot(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-spawner-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

let n = 0;
function request(root: string, argv: string[], env: Record<string, string> = {}): RunRequest {
  n += 1;
  const now = Date.now();
  return {
    runDir: join(root, 'run', `r${n}`),
    meta: { id: `r${n}`, argv, startedAt: now, deadline: now + 10_000 },
    file: argv[0]!,
    args: argv.slice(1),
    cwd: root,
    env,
    cap: 1024,
  };
}

function started(start: RunStart): { pid: number | undefined; ended: Promise<RunEnd> } {
  assert.ok(!('earlier' in start), 'a new run directory, not an earlier run');
  return start;
}

test.after(() => stopSpawner());

test('a command is started by the helper with no shell, leads its own group, and its exit code and output come back and are recorded', async (t) => {
  const root = await tempRoot(t);
  const req = request(root, ['sh', '-c', 'echo "out $X"; echo err >&2; sleep 0.3; exit 3'], {
    X: 'x1',
  });
  const run = started(await spawnRun(req));
  assert.ok(run.pid !== undefined);
  const s = stat(run.pid);
  assert.notEqual(s.ppid, process.pid, 'forked by the helper, not by this process');
  assert.equal(s.pgrp, run.pid, 'leads its own process group');
  assert.match(readFileSync(`/proc/${s.ppid}/cmdline`, 'utf8'), /spawner-child\.js/);
  // One exec: the command is the helper's child itself, not a shell wrapper's.
  assert.match(readFileSync(`/proc/${run.pid}/cmdline`, 'utf8'), /^sh\0-c\0echo/);
  assert.equal(readFileSync(join(req.runDir, 'pid'), 'utf8').split(' ')[0], String(run.pid));
  const meta = JSON.parse(readFileSync(join(req.runDir, 'meta.json'), 'utf8')) as {
    starter: { pid: number };
  };
  assert.equal(meta.starter.pid, s.ppid, 'meta.json names the helper as the starter');
  assert.deepEqual(await run.ended, {
    exitCode: 3,
    stdout: { text: 'out x1\n', truncated: false },
    stderr: { text: 'err\n', truncated: false },
  });
  assert.equal(readFileSync(join(req.runDir, 'exit'), 'utf8'), '3\n');
});

test('output too large to travel with the exit code is left in the run files for the node to read', async (t) => {
  const root = await tempRoot(t);
  const req = request(root, ['sh', '-c', 'head -c 70000 /dev/zero | tr "\\0" a; echo small >&2']);
  const run = started(await spawnRun(req));
  const end = await run.ended;
  assert.ok('exitCode' in end);
  assert.equal(end.exitCode, 0);
  assert.equal(end.stdout, undefined, 'not sent back: larger than INLINE_OUTPUT_MAX');
  assert.equal(readFileSync(join(req.runDir, 'stdout'), 'utf8'), 'a'.repeat(70_000));
});

test('a command killed by a signal is recorded as a shell would say it: 128 + N', async (t) => {
  const root = await tempRoot(t);
  const run = started(await spawnRun(request(root, ['sleep', '10'])));
  assert.ok(run.pid !== undefined);
  process.kill(-run.pid, 'SIGTERM');
  const end = await run.ended;
  assert.ok('exitCode' in end);
  assert.equal(end.exitCode, 143);
});

test('a program that cannot start ends with its errno, no pid, and no run directory left', async (t) => {
  const root = await tempRoot(t);
  const req = request(root, ['no-such-program-admiral']);
  const run = started(await spawnRun(req));
  assert.equal(run.pid, undefined);
  const end = await run.ended;
  assert.ok('error' in end);
  assert.equal(end.errno, 'ENOENT');
  assert.equal(existsSync(req.runDir), false);
});

test('a finished run directory is removed by the helper, with anything unexpected in it; a missing one is fine', async (t) => {
  const root = await tempRoot(t);
  const req = request(root, ['sh', '-c', 'echo out']);
  const run = started(await spawnRun(req));
  await run.ended;
  writeFileSync(join(req.runDir, 'left-by-an-older-version.tmp'), 'x');
  await removeRunDir(req.runDir);
  assert.equal(existsSync(req.runDir), false);
  await removeRunDir(req.runDir);
  assert.equal(existsSync(join(root, 'run')), true, 'only the run directory itself is removed');
});

test('a run directory that is there already is reported as an earlier run, and nothing runs', async (t) => {
  const root = await tempRoot(t);
  const req = request(root, ['sh', '-c', 'echo ran >> count.txt']);
  mkdirSync(req.runDir, { recursive: true });
  const start = await spawnRun(req);
  assert.ok('earlier' in start);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(existsSync(join(root, 'count.txt')), false);
});

test('when the helper dies mid-run the run is still seen to end (its exit code lost), and the next command gets a new helper', async (t) => {
  const root = await tempRoot(t);
  // The command leaves a process in the background, as `sleep 5 & tree ./` does: its end is
  // the leader's, not the whole group's.
  const run = started(await spawnRun(request(root, ['sh', '-c', 'sleep 3 & sleep 0.5'])));
  assert.ok(run.pid !== undefined);
  const helper = stat(run.pid).ppid;
  process.kill(helper, 'SIGKILL');
  const begin = Date.now();
  const end = await run.ended;
  assert.ok('lost' in end, JSON.stringify(end));
  assert.match(end.lost, /exit code is lost/);
  const took = Date.now() - begin;
  assert.ok(took >= 200, `not reported ended before the command was (${took} ms)`);
  assert.ok(took < 2000, `not held up by its background process (${took} ms)`);
  try {
    process.kill(-run.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  const next = started(await spawnRun(request(root, ['sleep', '0.3'])));
  assert.ok(next.pid !== undefined);
  assert.notEqual(stat(next.pid).ppid, helper);
  const nextEnd = await next.ended;
  assert.ok('exitCode' in nextEnd);
  assert.equal(nextEnd.exitCode, 0);
});

test('the helper outlives its node until its commands have ended, and records their exit codes', async (t) => {
  const root = await tempRoot(t);
  const helper = fork(helperFile, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  t.after(() => helper.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => helper.once('exit', resolve));
  const req = request(root, ['sh', '-c', 'sleep 0.6; echo done; exit 7']);
  helper.send({ id: 1, run: req });
  const first = await new Promise<SpawnReply>((resolve) => helper.once('message', resolve));
  assert.ok('pid' in first);
  // The node goes away (as when it is killed with -9): the helper stays for its command.
  helper.disconnect();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(helper.exitCode, null, 'the helper still runs while its command does');
  assert.equal(existsSync(join(req.runDir, 'exit')), false);
  assert.equal(await exited, 0);
  assert.equal(readFileSync(join(req.runDir, 'exit'), 'utf8'), '7\n');
  assert.equal(readFileSync(join(req.runDir, 'stdout'), 'utf8'), 'done\n');
});

test('requests read after the node that sent them died are not started: its successor runs them', async (t) => {
  const root = await tempRoot(t);
  // The helper's node is named as pid 1, not this process: to it, its node is gone (as when the
  // node was killed with -9 while its requests were still unread in the channel).
  const helper = fork(helperFile, ['1'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  t.after(() => helper.kill('SIGKILL'));
  const answers: SpawnReply[] = [];
  helper.on('message', (m: SpawnReply) => answers.push(m));
  const req = request(root, ['sh', '-c', 'echo ran >> count.txt']);
  helper.send({ id: 1, run: req });
  const removed = new Promise<SpawnReply>((resolve) => helper.once('message', resolve));
  helper.send({ id: 2, remove: join(root, 'nothing') });
  assert.deepEqual(await removed, { id: 2, removed: null }, 'the requests were read, in order');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(existsSync(req.runDir), false, 'no run directory claimed');
  assert.equal(existsSync(join(root, 'count.txt')), false, 'nothing ran');
  assert.deepEqual(answers, [{ id: 2, removed: null }]);
  helper.disconnect();
});

test("the node's secrets in the environment are taken out of the command's", async (t) => {
  const root = await tempRoot(t);
  const helper = fork(helperFile, [], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, ADMIRAL_BROKER__TOKEN: 's3cret' },
  });
  t.after(() => helper.kill('SIGKILL'));
  const answers: SpawnReply[] = [];
  helper.on('message', (m: SpawnReply) => answers.push(m));
  const script = ['sh', '-c', 'echo "[$ADMIRAL_BROKER__TOKEN]"'];
  helper.send({ id: 1, run: { ...request(root, script), unset: ['ADMIRAL_BROKER__TOKEN'] } });
  helper.send({ id: 2, run: request(root, script) });
  const deadline = Date.now() + 5000;
  while (answers.filter((a) => 'end' in a).length < 2 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const out = (id: number): string | undefined => {
    const a = answers.find((x) => x.id === id && 'end' in x);
    return a && 'end' in a && 'exitCode' in a.end ? a.end.stdout?.text : undefined;
  };
  assert.equal(out(1), '[]\n', 'taken out');
  assert.equal(out(2), '[s3cret]\n', 'the variable was there to take');
  helper.disconnect();
});

test('a helper whose node goes away while it answers exits quietly (no EPIPE crash)', async (t) => {
  const root = await tempRoot(t);
  for (let round = 0; round < 5; round++) {
    const helper = fork(helperFile, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    helper.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => helper.once('exit', resolve));
    // Many quick commands: their answers are still being written when the node disconnects.
    for (let id = 1; id <= 200; id++) helper.send({ id, run: request(root, ['true']) });
    await new Promise<void>((resolve) => helper.once('message', () => resolve()));
    await new Promise((r) => setTimeout(r, round * 3));
    helper.disconnect();
    assert.equal(await exited, 0, stderr);
    assert.doesNotMatch(stderr, /EPIPE|Error/);
  }
});
