import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { OutboxState } from '../../src/store/outbox.js';
import { type NodeProcess, startFleet } from '../helpers/fleet.js';

// 1,000 commands to 10 nodes while node processes are killed with SIGKILL at random: every
// message ends completed and every command ran exactly once (counted on the nodes).
// The 10 nodes live in 5 processes of 2 (a 2-core machine); each kill crashes both.

const NODES = Array.from({ length: 10 }, (_, i) => `n${i + 1}`);
const MESSAGES = 1000;
const BATCHES = 10;

/** A seeded generator (mulberry32) so a failing run can be replayed with its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Messages a host's nodes found running at start (left by the process killed before). */
function countRecoveries(output: string): number {
  let n = 0;
  for (const m of output.matchAll(
    /settling messages the previous process left running .*count=(\d+)/g,
  )) {
    n += Number(m[1]);
  }
  return n;
}

test('1,000 commands to 10 nodes under random kill -9 of the nodes all end completed, each executed exactly once', async (t) => {
  const seed = Number(process.env.ADMIRAL_CHAOS_SEED ?? Date.now() % 100_000);
  const rand = random(seed);
  t.diagnostic(`seed ${seed} (ADMIRAL_CHAOS_SEED to replay)`);
  const fleet = await startFleet(t, { nodes: [] });
  const hosts: NodeProcess[] = [];
  for (let h = 0; h < NODES.length / 2; h++) {
    hosts.push(await fleet.startHost(`host${h}`, NODES.slice(h * 2, h * 2 + 2)));
  }

  const sent: { id: string; node: string; token: string }[] = [];
  let stopKilling = false;
  let kills = 0;
  let recoveries = 0;
  const down = new Set<NodeProcess>();
  const restarting: Promise<void>[] = [];
  // Every 0.3–1.2 s a random live host is killed; it comes back after up to 0.5 s, as a
  // crashed service does under its supervisor. At most three of the five hosts are down at once.
  const killer = (async () => {
    while (!stopKilling) {
      await new Promise((r) => setTimeout(r, 300 + rand() * 900));
      const up = hosts.filter((h) => !down.has(h));
      if (stopKilling || down.size >= 3 || up.length === 0) continue;
      const host = up[Math.floor(rand() * up.length)];
      assert.ok(host);
      down.add(host);
      recoveries += countRecoveries(host.output());
      await host.kill9();
      kills++;
      const pause = rand() * 500;
      const back = (async () => {
        await new Promise((r) => setTimeout(r, pause));
        await host.restart();
        down.delete(host);
      })();
      back.catch(() => undefined); // awaited below; this only marks it handled now
      restarting.push(back);
    }
    await Promise.all(restarting);
  })();

  for (let b = 0; b < BATCHES; b++) {
    const batch = Array.from({ length: MESSAGES / BATCHES }, (_, i) => {
      const n = b * (MESSAGES / BATCHES) + i;
      const node = NODES[n % NODES.length] ?? 'n1';
      const token = `m${n}`;
      return {
        node,
        token,
        msg: {
          toNode: node,
          method: 'REQCliCommand',
          // Echo first, then linger: kills land while commands run, so recovery is exercised.
          methodArgs: ['sh', '-c', `echo ${token} >> executions.log; sleep 0.3`],
          replyMethod: 'REQNone',
          ACKTimeout: 2,
          replyACKTimeout: 2,
          methodTimeout: 30,
          ttl: 300,
        },
      };
    });
    const result = await fleet.send(
      'central',
      batch.map((x) => x.msg),
    );
    assert.deepEqual(result.rejected, []);
    result.accepted.forEach((id, i) => {
      const x = batch[i];
      assert.ok(x);
      sent.push({ id, node: x.node, token: x.token });
    });
    await new Promise((r) => setTimeout(r, 1500));
  }

  const final: readonly OutboxState[] = [
    'completed',
    'failed',
    'expired',
    'rejected',
    'interrupted',
    'cancelled',
  ];
  // Keep killing until most messages are settled, then let the rest finish.
  const deadline = Date.now() + 60_000;
  for (;;) {
    const settled = sent.filter((s) =>
      final.includes(fleet.record('central', s.id)?.state ?? 'pending'),
    );
    if (settled.length >= MESSAGES * 0.8) stopKilling = true;
    if (settled.length === MESSAGES) break;
    if (Date.now() > deadline) {
      stopKilling = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  stopKilling = true;
  await killer;
  t.diagnostic(`${kills} kills`);
  for (const h of hosts) recoveries += countRecoveries(h.output());
  assert.ok(kills >= 5, `only ${kills} kills happened`);

  const states = new Map<string, number>();
  for (const s of sent) {
    const rec = await fleet.waitFor('central', s.id, final, 30_000);
    states.set(rec.state, (states.get(rec.state) ?? 0) + 1);
  }
  assert.deepEqual([...states], [['completed', MESSAGES]]);

  const counts = new Map<string, number>();
  for (const node of NODES) {
    const text = await readFile(join(fleet.dir, node, 'executions.log'), 'utf8');
    for (const line of text.split('\n').filter(Boolean)) {
      counts.set(`${node}:${line}`, (counts.get(`${node}:${line}`) ?? 0) + 1);
    }
  }
  const wrong = sent
    .map((s) => ({ ...s, runs: counts.get(`${s.node}:${s.token}`) ?? 0 }))
    .filter((s) => s.runs !== 1);
  assert.deepEqual(wrong, [], 'every command ran exactly once on its node');
  assert.equal(counts.size, MESSAGES);
  // Some commands were running when their node died and were settled by recovery.
  t.diagnostic(`recoveries seen: ${recoveries}`);
  assert.ok(recoveries > 0, 'no kill hit a running command: recovery was not exercised');
});
