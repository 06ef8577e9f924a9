import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import {
  cliCommand,
  runDirFor,
  secretEnvNames,
  substituteStewardData,
} from '../../src/methods/cli-command.js';
import { selfIdentity } from '../../src/methods/run-files.js';
import { sleep } from '../../src/methods/output.js';
import { abortAfter, makeContext, newId, tempDir } from './context.js';

const crashRunner = new URL('./fixtures/crash-runner.js', import.meta.url);

/** Live (not zombie) pids of group `pgid`, as `ps` sees them. */
function psGroup(pgid: number): number[] {
  const out = execFileSync('ps', ['-e', '-o', 'pid=,pgid=,stat='], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid, group, stat]) => pid && Number(group) === pgid && !stat?.startsWith('Z'))
    .map(([pid]) => Number(pid));
}

/** True when `pid` is gone, or dead and only waiting for init to reap it. */
function deadOrZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Waits for the pid file of run `id` and returns the group id it records. */
async function waitForPgid(dataDir: string, id: string, ms = 5000): Promise<number> {
  const file = join(runDirFor(dataDir, id), 'pid');
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const pid = Number.parseInt(await readFile(file, 'utf8'), 10);
      if (pid > 1) return pid;
    } catch {
      // not yet written
    }
    await sleep(20);
  }
  throw new Error(`no pid file at ${file} after ${ms} ms`);
}

/** Waits until group `pgid` has at least `n` live processes (the pipeline has started). */
async function waitForMembers(pgid: number, n: number, ms = 5000): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const members = psGroup(pgid);
    if (members.length >= n || Date.now() > deadline) return members;
    await sleep(20);
  }
}

/** Starts a stand-in node that runs `methodArgs`, and kills it with -9 once the command runs. */
async function runThenKillNode(
  t: TestContext,
  dataDir: string,
  methodArgs: string[],
  methodTimeout = 10,
): Promise<{ id: string; pgid: number }> {
  const id = newId();
  const node = spawn(
    process.execPath,
    [crashRunner.pathname, JSON.stringify({ dataDir, id, methodArgs, methodTimeout })],
    { stdio: 'ignore' },
  );
  t.after(() => {
    node.kill('SIGKILL');
  });
  const pgid = await waitForPgid(dataDir, id);
  const gone = new Promise((resolve) => node.once('exit', resolve));
  node.kill('SIGKILL');
  await gone;
  t.after(() => {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone, as it should be
    }
  });
  return { id, pgid };
}

describe('REQCliCommand', () => {
  test('methodArgs run as argv: shell syntax in an argument is passed literally', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(dataDir, {
      method: 'REQCliCommand',
      methodArgs: ['echo', '$HOME', ';', 'touch', 'pwned', '$(id)'],
    });
    const out = await cliCommand.run(ctx);
    assert.equal(out.status, 'ok');
    assert.equal(out.exitCode, 0);
    assert.equal(out.data, '$HOME ; touch pwned $(id)\n');
    assert.equal(await exists(join(dataDir, 'pwned')), false);
  });

  test('the exit code and stderr come back, and a non-zero exit is an error', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(dataDir, {
      method: 'REQCliCommand',
      methodArgs: ['sh', '-c', 'echo out; echo err >&2; exit 3'],
    });
    const out = await cliCommand.run(ctx);
    assert.equal(out.status, 'error');
    assert.equal(out.exitCode, 3);
    assert.equal(out.data, 'out\n');
    assert.equal(out.stderr, 'err\n');
    assert.match(out.error ?? '', /exited with code 3/);
    assert.equal(out.code, 'ADMIRAL_COMMAND_FAILED');
  });

  test('a program that does not exist is exit 127 with an error naming it', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(dataDir, {
      method: 'REQCliCommand',
      methodArgs: ['admiral-no-such-command-xyz'],
    });
    const out = await cliCommand.run(ctx);
    assert.equal(out.status, 'error');
    assert.equal(out.exitCode, 127);
    assert.match(out.error ?? '', /"admiral-no-such-command-xyz": not found in PATH/);
  });

  test('shell builtins are not programs: argv ["eval", "touch pwned"] runs nothing', async (t) => {
    const dataDir = await tempDir(t);
    for (const builtin of ['eval', 'exec', '.']) {
      const out = await cliCommand.run(
        makeContext(dataDir, { method: 'REQCliCommand', methodArgs: [builtin, 'touch pwned'] }),
      );
      assert.equal(out.status, 'error', builtin);
      assert.equal(out.exitCode, 127, builtin);
    }
    assert.equal(await exists(join(dataDir, 'pwned')), false);
  });

  test('a program is found through PATH like execvp, and by a path relative to the data dir', async (t) => {
    const dataDir = await tempDir(t);
    await writeFile(join(dataDir, 'hello.sh'), '#!/bin/sh\necho "hi $1"\n', { mode: 0o755 });
    const out = await cliCommand.run(
      makeContext(dataDir, { method: 'REQCliCommand', methodArgs: ['./hello.sh', 'there'] }),
    );
    assert.equal(out.data, 'hi there\n');
  });

  test('empty methodArgs are refused with the expected shape named', async (t) => {
    const dataDir = await tempDir(t);
    const out = await cliCommand.run(makeContext(dataDir, { method: 'REQCliCommand' }));
    assert.equal(out.status, 'error');
    assert.equal(out.code, 'ADMIRAL_BAD_METHOD_ARGS');
    assert.match(out.error ?? '', /\[command, \.\.\.arguments\]/);
  });

  test('the run directory is kept until the node settled the result, then removed', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(dataDir, { method: 'REQCliCommand', methodArgs: ['true'] });
    await cliCommand.run(ctx);
    // A crash before the node commits the result must still find it.
    assert.equal(await exists(runDirFor(dataDir, ctx.request.id)), true);
    await cliCommand.settled?.(ctx);
    assert.equal(await exists(runDirFor(dataDir, ctx.request.id)), false);
  });

  for (const reason of ['timeout', 'cancelled'] as const) {
    test(`${reason === 'timeout' ? 'methodTimeout' : 'cancel'} stops a piped command's whole process group and leaves no process behind`, async (t) => {
      const dataDir = await tempDir(t);
      const ctx = makeContext(dataDir, {
        method: 'REQCliCommand',
        methodArgs: ['bash', '-c', 'echo started; sleep 100 | cat'],
        methodTimeout: 1,
      });
      const running = cliCommand.run(ctx);
      const pgid = await waitForPgid(dataDir, ctx.request.id);
      t.after(() => {
        try {
          process.kill(-pgid, 'SIGKILL');
        } catch {
          // gone
        }
      });
      // bash, sleep, cat (no wrapper: the command leads its group itself)
      const before = await waitForMembers(pgid, 3);
      assert.ok(before.length >= 3, `expected the pipeline to be running, saw ${before.length}`);
      abortAfter(t, ctx, 100, reason);
      const started = Date.now();
      const out = await running;
      assert.equal(out.status, reason);
      assert.equal(out.data, 'started\n');
      assert.match(out.error ?? '', new RegExp(`process group ${pgid} killed`));
      assert.ok(Date.now() - started < 3000, 'the group was stopped promptly');
      assert.deepEqual(psGroup(pgid), [], 'no process of the group survives');
      for (const pid of before) {
        assert.ok(deadOrZombie(pid), `pid ${pid} is still running`);
      }
    });
  }

  test('a process that ignores SIGTERM is killed with SIGKILL after the grace', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(
      dataDir,
      {
        method: 'REQCliCommand',
        methodArgs: ['bash', '-c', "trap '' TERM; sleep 100 & wait; sleep 100"],
      },
      { killGraceMs: 300 },
    );
    const running = cliCommand.run(ctx);
    const pgid = await waitForPgid(dataDir, ctx.request.id);
    t.after(() => {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // gone
      }
    });
    await waitForMembers(pgid, 3);
    ctx.controller.abort('cancelled');
    const out = await running;
    assert.equal(out.status, 'cancelled');
    assert.deepEqual(psGroup(pgid), []);
  });

  test('output past maxOutputBytes is cut and ends with a note', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(
      dataDir,
      { method: 'REQCliCommand', methodArgs: ['sh', '-c', 'head -c 5000 /dev/zero | tr "\\0" a'] },
      { maxOutputBytes: 1000 },
    );
    const out = await cliCommand.run(ctx);
    assert.equal(out.status, 'ok');
    assert.equal(out.truncated, true);
    assert.ok(out.data.startsWith('a'.repeat(1000)));
    assert.equal(out.data.indexOf('a'.repeat(1001)), -1);
    assert.match(out.data, /output truncated at 1000 bytes of 5000/);
  });

  test('output larger than what travels with the exit code is read from the run files, cut at the cap', async (t) => {
    const dataDir = await tempDir(t);
    const script =
      'head -c 300000 /dev/zero | tr "\\0" a; head -c 200000 /dev/zero | tr "\\0" b >&2';
    const whole = await cliCommand.run(
      makeContext(dataDir, { method: 'REQCliCommand', methodArgs: ['sh', '-c', script] }),
    );
    assert.equal(whole.status, 'ok');
    assert.equal(whole.data, 'a'.repeat(300_000));
    assert.equal(whole.stderr, 'b'.repeat(200_000));
    const cut = await cliCommand.run(
      makeContext(
        dataDir,
        { method: 'REQCliCommand', methodArgs: ['sh', '-c', script] },
        { maxOutputBytes: 100_000 },
      ),
    );
    assert.equal(cut.truncated, true);
    assert.match(cut.data, /output truncated at 100000 bytes of 300000/);
    assert.ok(cut.data.startsWith('a'.repeat(100_000) + '\n[admiral'));
  });

  test('a cut never splits a UTF-8 character', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(
      dataDir,
      { method: 'REQCliCommand', methodArgs: ['printf', 'ééééé'] },
      { maxOutputBytes: 5 },
    );
    const out = await cliCommand.run(ctx);
    assert.ok(out.data.startsWith('éé\n[admiral: output truncated'));
  });

  test('{{STEWARD_DATA}} in a chained command receives the previous output, never as shell code', async (t) => {
    const dataDir = await tempDir(t);
    const data = 'line one\nline "two" $(touch pwned) `touch pwned2`\n';
    // Steward's own examples: quoted in echo, and a bash herestring.
    const echo = await cliCommand.run(
      makeContext(dataDir, {
        method: 'REQCliCommand',
        methodArgs: ['bash', '-c', 'echo "{{STEWARD_DATA}}" > apekatt.txt'],
        data,
      }),
    );
    assert.equal(echo.status, 'ok');
    assert.equal(await readFile(join(dataDir, 'apekatt.txt'), 'utf8'), `${data}\n`);
    const herestring = await cliCommand.run(
      makeContext(dataDir, {
        method: 'REQCliCommand',
        methodArgs: ['bash', '-c', 'cat <<< {{STEWARD_DATA}} > hest.txt'],
        data,
      }),
    );
    assert.equal(herestring.status, 'ok');
    assert.equal(await readFile(join(dataDir, 'hest.txt'), 'utf8'), `${data}\n`);
    assert.equal(await exists(join(dataDir, 'pwned')), false);
    assert.equal(await exists(join(dataDir, 'pwned2')), false);
  });

  test('the request data is in the environment as ADMIRAL_DATA', async (t) => {
    const dataDir = await tempDir(t);
    const out = await cliCommand.run(
      makeContext(dataDir, {
        method: 'REQCliCommand',
        methodArgs: ['sh', '-c', 'printf "%s" "$ADMIRAL_DATA"'],
        data: 'a b\nc',
      }),
    );
    assert.equal(out.data, 'a b\nc');
  });

  test('secretEnvNames names the ADMIRAL_* variables that hold secrets, and only those', () => {
    const names = secretEnvNames({
      ADMIRAL_BROKER__TOKEN: 't',
      ADMIRAL_BROKER_PASSWORD: 'p',
      ADMIRAL_JOIN__TOKEN: 'j',
      ADMIRAL_BROKER__NKEY_SEED_FILE: '/seed',
      ADMIRAL_LOG_LEVEL: 'info',
      HOME: '/root',
    });
    assert.deepEqual(names.sort(), [
      'ADMIRAL_BROKER_PASSWORD',
      'ADMIRAL_BROKER__TOKEN',
      'ADMIRAL_JOIN__TOKEN',
    ]);
  });

  test('substituteStewardData turns the placeholder into $STEWARD_DATA and sets both variables', () => {
    const { argv, env } = substituteStewardData(
      ['bash', '-c', 'echo "{{STEWARD_DATA}}" {{STEWARD_DATA}}', 'plain'],
      'out',
    );
    assert.deepEqual(argv, ['bash', '-c', 'echo "$STEWARD_DATA" $STEWARD_DATA', 'plain']);
    assert.deepEqual(env, { STEWARD_DATA: 'out', ADMIRAL_DATA: 'out' });
    assert.deepEqual(substituteStewardData(['ls'], undefined), { argv: ['ls'], env: {} });
  });

  test('recover() returns the result of a command that finished while the node was down', async (t) => {
    const dataDir = await tempDir(t);
    const { id } = await runThenKillNode(t, dataDir, [
      'sh',
      '-c',
      'sleep 0.3; echo done; echo warn >&2; exit 4',
    ]);
    const runDir = runDirFor(dataDir, id);
    const deadline = Date.now() + 5000;
    while (!(await exists(join(runDir, 'exit'))) && Date.now() < deadline) await sleep(20);
    assert.ok(
      await exists(join(runDir, 'exit')),
      'the helper wrote the exit code after its node died',
    );

    const ctx = makeContext(dataDir, { method: 'REQCliCommand', id });
    const out = await cliCommand.recover?.(ctx);
    assert.ok(out);
    assert.equal(out.status, 'error');
    assert.equal(out.exitCode, 4);
    assert.equal(out.data, 'done\n');
    assert.equal(out.stderr, 'warn\n');
    assert.equal(await exists(runDir), true, 'kept until the node committed the result');
    await cliCommand.settled?.(ctx);
    assert.equal(await exists(runDir), false, 'the run directory is cleaned once settled');
  });

  test('recover() waits for a command still running after the node died and returns its result', async (t) => {
    const dataDir = await tempDir(t);
    const { id } = await runThenKillNode(t, dataDir, ['sh', '-c', 'sleep 0.8; echo late']);
    const ctx = makeContext(dataDir, { method: 'REQCliCommand', id, methodTimeout: 10 });
    const started = Date.now();
    const out = await cliCommand.recover?.(ctx);
    assert.ok(out);
    assert.equal(out.status, 'ok');
    assert.equal(out.data, 'late\n');
    assert.ok(Date.now() - started >= 200, 'recover waited for the command to end');
  });

  test('recover() stops a surviving group when what is left of methodTimeout runs out', async (t) => {
    const dataDir = await tempDir(t);
    const { id, pgid } = await runThenKillNode(t, dataDir, ['bash', '-c', 'sleep 100 | cat'], 1);
    assert.ok((await waitForMembers(pgid, 3)).length >= 3);
    const ctx = makeContext(dataDir, { method: 'REQCliCommand', id, methodTimeout: 1 });
    const out = await cliCommand.recover?.(ctx);
    assert.ok(out);
    assert.equal(out.status, 'timeout');
    assert.deepEqual(psGroup(pgid), []);
  });

  test('run() for a message whose earlier run survived the node takes that result instead of running twice', async (t) => {
    const dataDir = await tempDir(t);
    const { id } = await runThenKillNode(t, dataDir, [
      'sh',
      '-c',
      'echo ran >> count.txt; sleep 0.4; echo result',
    ]);
    const out = await cliCommand.run(
      makeContext(dataDir, {
        method: 'REQCliCommand',
        id,
        methodArgs: ['sh', '-c', 'echo ran >> count.txt; sleep 0.4; echo result'],
      }),
    );
    assert.equal(out.status, 'ok');
    assert.equal(out.data, 'result\n');
    assert.equal(await readFile(join(dataDir, 'count.txt'), 'utf8'), 'ran\n', 'executed once');
  });

  test('recover() runs a command that never started (no run directory: the node died before it)', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(dataDir, {
      method: 'REQCliCommand',
      methodArgs: ['sh', '-c', 'echo ran >> count.txt; echo result'],
    });
    const out = await cliCommand.recover?.(ctx);
    assert.equal(out?.status, 'ok');
    assert.equal(out?.data, 'result\n');
    assert.equal(await readFile(join(dataDir, 'count.txt'), 'utf8'), 'ran\n');
  });

  test('recover() runs a command whose run directory has no meta.json (its starter died before it)', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(dataDir, {
      method: 'REQCliCommand',
      methodArgs: ['sh', '-c', 'echo ran >> count.txt'],
    });
    await mkdir(runDirFor(dataDir, ctx.request.id), { recursive: true });
    const out = await cliCommand.recover?.(ctx);
    assert.equal(out?.status, 'ok');
    assert.equal(await readFile(join(dataDir, 'count.txt'), 'utf8'), 'ran\n');
  });

  /** A run directory whose starter (a process that has ended) wrote meta.json, then `files`. */
  async function deadStarterRun(
    t: TestContext,
    files: Record<string, string>,
  ): Promise<{ dataDir: string; ctx: ReturnType<typeof makeContext> }> {
    const dataDir = await tempDir(t);
    const ctx = makeContext(dataDir, {
      method: 'REQCliCommand',
      methodArgs: ['sh', '-c', 'echo ran >> count.txt'],
    });
    const runDir = runDirFor(dataDir, ctx.request.id);
    await mkdir(runDir, { recursive: true });
    const starter = spawn('true');
    await new Promise((resolve) => starter.once('exit', resolve));
    const now = Date.now();
    const meta = { id: ctx.request.id, argv: [], startedAt: now, deadline: now + 10_000 };
    await writeFile(
      join(runDir, 'meta.json'),
      JSON.stringify({ ...meta, starter: { pid: starter.pid, startTime: 1 } }),
    );
    for (const [name, text] of Object.entries(files)) await writeFile(join(runDir, name), text);
    return { dataDir, ctx };
  }

  test('recover() reports interrupted, never runs again, a run whose starter died before it recorded a pid (it may have started)', async (t) => {
    const { dataDir, ctx } = await deadStarterRun(t, {});
    assert.equal(await cliCommand.recover?.(ctx), undefined);
    assert.equal(await exists(join(dataDir, 'count.txt')), false, 'not run a second time');
  });

  test('recover() reports interrupted when the command and its starter are gone without an exit code', async (t) => {
    // pid 2 (kthreadd) is alive but started at another time: not our command.
    const { dataDir, ctx } = await deadStarterRun(t, { pid: '2 999999999\n' });
    assert.equal(await cliCommand.recover?.(ctx), undefined);
    assert.equal(await exists(join(dataDir, 'count.txt')), false, 'not run a second time');
  });

  test('recover() takes the exit code a live starter writes just after its command ended', async (t) => {
    const { ctx } = await deadStarterRun(t, { pid: '2 999999999\n' });
    const runDir = runDirFor(ctx.dataDir, ctx.request.id);
    // The starter is this process now: alive, so recovery waits for the exit code it writes.
    const meta = JSON.parse(await readFile(join(runDir, 'meta.json'), 'utf8')) as object;
    await writeFile(
      join(runDir, 'meta.json'),
      JSON.stringify({ ...meta, starter: selfIdentity() }),
    );
    await writeFile(join(runDir, 'stdout'), 'finished\n');
    setTimeout(() => void writeFile(join(runDir, 'exit'), '5\n'), 300);
    const out = await cliCommand.recover?.(ctx);
    assert.equal(out?.exitCode, 5);
    assert.equal(out?.data, 'finished\n');
  });
});
