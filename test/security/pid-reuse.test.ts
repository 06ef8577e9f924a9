import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import {
  groupAlive,
  killGroup,
  pidReused,
  processStartTime,
  waitGroupGone,
} from '../../src/methods/process-group.js';

// A recorded command is stopped by its process group, and a pid is reused once its process and
// group are gone: before a group is signalled, its leader's pid must still name the recorded
// process (its start time), or the signal hits whoever has that pid now.

function startGroup(t: import('node:test').TestContext): number {
  const child = spawn('sh', ['-c', 'sleep 30 & sleep 30'], { detached: true, stdio: 'ignore' });
  const pid = child.pid;
  assert.ok(pid !== undefined);
  t.after(async () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone already
    }
    await waitGroupGone(pid, 2000);
  });
  return pid;
}

async function startTimeOf(pid: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const ticks = processStartTime(pid);
    if (ticks !== undefined && groupAlive(pid)) return ticks;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`process ${pid} did not start`);
}

test('a group whose recorded leader pid now names another process is never signalled', async (t) => {
  const pid = startGroup(t);
  const startTime = await startTimeOf(pid);
  // As recorded of an earlier process that had this pid: same pid, another start time.
  const earlier = { pid, startTime: startTime - 1 };
  assert.equal(pidReused(earlier), true);
  assert.equal(await killGroup(earlier, 200), true, 'the recorded group is gone');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(groupAlive(pid), true, 'the process that has the pid now was not signalled');
});

test('a group whose recorded leader is still that process is killed, background processes too', async (t) => {
  const pid = startGroup(t);
  const leader = { pid, startTime: await startTimeOf(pid) };
  assert.equal(pidReused(leader), false);
  assert.equal(await killGroup(leader, 1000), true);
  assert.equal(groupAlive(pid), false);
});

test('a recorded leader that has ended leaves its pid free: pidReused is false and nothing is hit', async (t) => {
  const pid = startGroup(t);
  const leader = { pid, startTime: await startTimeOf(pid) };
  process.kill(-pid, 'SIGKILL');
  assert.equal(await waitGroupGone(pid, 2000), true);
  assert.equal(pidReused(leader), false);
  assert.equal(await killGroup(leader, 100), true);
});
