import assert from 'node:assert/strict';
import { copyFile, cp, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { NatsConnection } from '@nats-io/transport-node';
import type { LeaderView } from '../../src/central/leadership.js';
import type { CentralReply } from '../../src/central/wire.js';
import type { JobView } from '../../src/fleet/job-view.js';
import { type AdmiralProcess, spawnAdmiral, stopAdmiral, untilOutput } from './admiral-process.js';

// Centrals sharing their state on JetStream, for the scale-out tests (docs/operations.md,
// "Scaling out"): a standby made from the leader's data dir, who leads, and a job in two batches
// whose every node must run exactly once across a takeover.

type Cli = (
  args: readonly string[],
) => Promise<{ code: number | null; stdout: string; stderr: string }>;

/**
 * Starts a standby central in `dir` (a new data dir holding `from`'s key, and its `nats/` folder
 * with `withNats`): `node start --central-role --name central` with `args`; stopped after the test.
 */
export async function startStandby(
  t: TestContext,
  options: {
    dir: string;
    from: string;
    cwd: string;
    withNats?: boolean;
    /** Start it again in the data dir it already has. */
    again?: boolean;
    args: readonly string[];
  },
): Promise<AdmiralProcess> {
  if (options.again !== true) {
    await mkdir(options.dir, { mode: 0o700 });
    await copyFile(join(options.from, 'identity.seed'), join(options.dir, 'identity.seed'));
  }
  if (options.withNats === true && options.again !== true) {
    await cp(join(options.from, 'nats'), join(options.dir, 'nats'), { recursive: true });
  }
  const p = spawnAdmiral(
    [
      'node',
      'start',
      '--central-role',
      '--name',
      'central',
      '--data-dir',
      options.dir,
      ...options.args,
    ],
    options.cwd,
  );
  t.after(() => stopAdmiral(p));
  await untilOutput('the standby up', () => /node central is up/.test(p.output()), p);
  return p;
}

/** The instance that leads, as `adm.central.leader` says; undefined while none answers. */
export async function leaderOf(nc: NatsConnection): Promise<string | undefined> {
  try {
    const m = await nc.request('adm.central.leader', '{}', { timeout: 2000 });
    const r = JSON.parse(Buffer.from(m.data).toString()) as CentralReply;
    return r.ok ? (r.result as LeaderView).leader : undefined;
  } catch {
    return undefined;
  }
}

/** Waits until the inventory (`admiral nodes`) has every one of `nodes` online. */
export async function untilOnline(cli: Cli, nodes: readonly string[], ms = 30_000): Promise<void> {
  for (const deadline = Date.now() + ms; ;) {
    const r = await cli(['nodes', '--format', 'json', '--cols', 'node,state']);
    const rows = JSON.parse(r.stdout || '[]') as { node: string; state: string }[];
    const online = rows.filter((x) => x.state === 'online').map((x) => x.node);
    if (nodes.every((n) => online.includes(n))) return;
    assert.ok(Date.now() < deadline, `not every node came online: ${r.stdout}${r.stderr}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

/**
 * A job on `nodes` in batches of half of them, each run appending its pid to `runs` and printing
 * it after 3 s: `running` is the `admiral run` (JSON output), `firstBatch` resolves once the first
 * batch's commands all started (the second is not sent yet).
 */
export function twoBatchJob(
  cli: Cli,
  nodes: readonly string[],
  runs: string,
): { running: ReturnType<Cli>; firstBatch: (what: () => string) => Promise<void> } {
  const half = Math.ceil(nodes.length / 2);
  const running = cli([
    '--format',
    'json',
    'run',
    '--nodes',
    nodes.join(','),
    '--max-concurrency',
    String(half),
    '--timeout',
    '30s',
    '--ttl',
    '120s',
    '--',
    'sh',
    '-c',
    `echo $$ >> ${runs}; sleep 3; echo $$`,
  ]);
  const firstBatch = async (what: () => string): Promise<void> => {
    for (const deadline = Date.now() + 20_000; ;) {
      const lines = await readFile(runs, 'utf8').catch(() => '');
      if (lines.trim().split('\n').filter(Boolean).length >= half) return;
      assert.ok(Date.now() < deadline, `the first batch did not start: ${what()}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  };
  return { running, firstBatch };
}

/** The `twoBatchJob` ended right: exit 0, every node completed, one run per node, its own pid. */
export async function assertRanOnceEach(
  done: Awaited<ReturnType<Cli>>,
  nodes: readonly string[],
  runs: string,
  context: string,
): Promise<void> {
  const output = `${done.stderr}\n${context}`;
  assert.equal(done.code, 0, output);
  const job = JSON.parse(done.stdout) as JobView;
  assert.equal(job.state, 'completed', output);
  const views = job.nodes ?? [];
  assert.deepEqual(views.map((n) => n.node).sort(), [...nodes].sort());
  for (const n of views) assert.equal(n.state, 'completed', `${n.node}: ${JSON.stringify(n)}`);
  // Each run wrote its pid once, and each node's result is one of those pids.
  const lines = (await readFile(runs, 'utf8')).trim().split('\n');
  assert.equal(lines.length, nodes.length, `runs: ${lines.join(' ')}`);
  assert.deepEqual(
    views.map((n) => (n.output ?? '').trim()).sort(),
    [...lines].sort(),
    'every node reported the one run it made',
  );
}
