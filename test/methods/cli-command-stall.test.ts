import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { OutboxState } from '../../src/store/outbox.js';
import { startFleet } from '../helpers/fleet.js';

// A node that stalls (SIGSTOP, a GC pause, a frozen VM) longer than methodTimeout while its
// command runs does not turn a command that finished into a timeout: the spawner helper, not
// stalled, recorded the exit code, and the node reports that when it wakes.

const FINAL: readonly OutboxState[] = ['completed', 'failed', 'expired', 'rejected', 'interrupted'];

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** x86_64 and arm64 numbers of epoll_wait, epoll_pwait, epoll_pwait2: the loop waiting for I/O. */
const EPOLL_WAITS = new Set(['232', '281', '441', '22']);

const state = (pid: number): string | undefined =>
  readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[0];

/**
 * Stops `pid` with SIGSTOP at a moment its main thread is running code rather than waiting in
 * epoll (as a GC pause or a VM freeze catches a busy process): on waking, such a process runs
 * its due timers before it next reads its sockets and pipes. Tries until `deadline`.
 */
async function stopWhileBusy(pid: number, deadline: number): Promise<number> {
  for (let tries = 1; Date.now() < deadline; tries++) {
    process.kill(pid, 'SIGSTOP');
    while (state(pid) !== 'T') await new Promise((r) => setImmediate(r));
    const syscall = readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0] ?? '';
    if (!EPOLL_WAITS.has(syscall)) return tries;
    process.kill(pid, 'SIGCONT');
    await new Promise((r) => setTimeout(r, Math.random() * 3));
  }
  throw new Error(`could not stop process ${pid} while it was busy before the command ended`);
}

/** Whether a process whose command line holds `marker` runs (the command, started by the node or its helper). */
function running(marker: string): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) return true;
    } catch {
      // ended while we looked
    }
  }
  return false;
}

for (const method of ['REQCliCommand', 'REQCliCommandCont']) {
  test(`${method}: a command that finished while its node was stopped past methodTimeout is reported completed with its output`, async (t) => {
    const fleet = await startFleet(t, { nodes: ['ship1'] });
    const ship1 = fleet.nodes.get('ship1');
    assert.ok(ship1?.child.pid !== undefined);
    const marker = `stall-${method}-${process.pid}`;
    const result = await fleet.send('central', [
      {
        toNode: 'ship1',
        method,
        methodArgs: ['sh', '-c', `sleep 1; echo done; : ${marker}`],
        methodTimeout: 2,
        replyMethod: 'REQToFileAppend',
        directory: 'stall',
        fileName: `${method}.out`,
      },
    ]);
    assert.deepEqual(result.rejected, []);
    const [id] = result.accepted;
    assert.ok(id);
    // Once the command runs, keep the node busy with pings and stall it in the middle of that work.
    await until('the command started', () => running(marker));
    const started = Date.now();
    let loading = true;
    const load = (async () => {
      while (loading) {
        const pings = Array.from({ length: 20 }, () => ({
          toNode: 'ship1',
          method: 'REQPing',
          replyMethod: 'REQNone',
        }));
        await fleet.send('central', pings);
      }
    })();
    const tries = await stopWhileBusy(ship1.child.pid, started + 800);
    loading = false;
    await load;
    let resumed = false;
    const resume = (): void => {
      if (!resumed && ship1.child.pid !== undefined) process.kill(ship1.child.pid, 'SIGCONT');
      resumed = true;
    };
    t.after(resume); // never leave a stopped process behind a failed assertion
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal(running(marker), false, 'the command ended while its node was stopped');
    resume();
    t.diagnostic(`node stopped while busy after ${tries} tries`);
    const rec = await fleet.waitFor('central', id, FINAL, 20_000);
    const seen = JSON.stringify({ state: rec.state, error: rec.error, result: rec.result });
    assert.equal(rec.state, 'completed', seen);
    const summary = rec.result as { status: string; exitCode?: number };
    assert.deepEqual(
      { status: summary.status, exitCode: summary.exitCode },
      { status: 'ok', exitCode: 0 },
      seen,
    );
    const out = join(fleet.central.dataDir, 'stall', `${method}.out`);
    await until('the output was written', () => existsSync(out));
    assert.equal(readFileSync(out, 'utf8'), 'done\n');
  });
}
