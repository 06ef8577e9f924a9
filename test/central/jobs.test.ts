import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import type { JobView } from '../../src/fleet/job-view.js';
import { generateIdentity } from '../../src/protocol/index.js';
import { type Fleet, startFleet } from '../helpers/fleet.js';
import { findNatsServer, startNatsServer } from '../helpers/nats-server.js';

// Jobs with a real fleet: central (`admiral up`, or `node start --central-role` beside a
// nats-server), nodes in their own processes, and the CLI as an operator runs it. The whole
// suite runs once over the embedded broker and once over nats-server.

// Small answer windows so did-not-answer is reached quickly (read by central at start).
process.env.ADMIRAL_CENTRAL__JOBS__REPLY_GRACE = '1';

const SHIPS = ['ship1', 'ship2', 'ship3', 'ship4'];

interface Setup {
  fleet: Fleet;
  /** Runs the CLI and returns exit code and output. */
  run(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

async function setup(
  t: TestContext,
  broker: 'embedded' | 'nats-server',
): Promise<Setup | undefined> {
  let brokerUrl: string | undefined;
  if (broker === 'nats-server') {
    const server = await startNatsServer(t);
    if (!server) return undefined;
    brokerUrl = server.url;
  }
  const fleet = await startFleet(t, {
    nodes: [],
    // Over nats-server central is `node start --central-role`: its HTTP input serves the API.
    ...(brokerUrl !== undefined && { brokerUrl, nodeArgs: ['--http-listen', '127.0.0.1:0'] }),
  });
  // A node that pinned another central key: it refuses central's commands (rejected).
  const rejDir = join(fleet.dir, 'rej');
  mkdirSync(rejDir, { recursive: true });
  writeFileSync(
    join(rejDir, 'trust.json'),
    JSON.stringify({
      version: 1,
      keys: [{ publicKey: generateIdentity().publicKey, label: 'central central', addedAt: 1 }],
    }),
  );
  await fleet.startHost('host', [...SHIPS, 'rej'], { helloInterval: 1 });
  await fleet.startNode('solo', ['--hello-interval', '1']);
  const setup: Setup = { fleet, run: (args) => fleet.cli(args) };
  // The inventory has heard every node's hello before `--all` and `--where` are tried.
  await waitUntil(async () => {
    const r = await fleet.cli(['nodes', '--format', 'json']);
    return SHIPS.every((s) => r.stdout.includes(`"${s}"`)) && r.stdout.includes('"solo"');
  }, 'every node in the inventory');
  return setup;
}

async function waitUntil(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The job a `--format json` command printed; the CLI's stderr in the error when it printed none. */
/** The command's pid (its group id) from a run directory's `pid` file ("<pid> <start time>"). */
function runPid(runDir: string): number {
  return Number(readFileSync(join(runDir, 'pid'), 'utf8').trim().split(' ')[0]);
}

/** The parent of `pid`, from /proc. */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function jobOf(out: string | { stdout: string; stderr: string; code: number | null }): JobView {
  const r = typeof out === 'string' ? { stdout: out, stderr: '', code: null } : out;
  try {
    return JSON.parse(r.stdout) as JobView;
  } catch {
    throw new Error(`expected a job as JSON, got exit ${r.code}: ${r.stdout}${r.stderr}`);
  }
}

function states(job: JobView): Record<string, string> {
  return Object.fromEntries((job.nodes ?? []).map((n) => [n.node, n.state]));
}

for (const broker of (process.env.ADMIRAL_TEST_JOBS_BROKER
  ? [process.env.ADMIRAL_TEST_JOBS_BROKER]
  : ['embedded', 'nats-server']) as ('embedded' | 'nats-server')[]) {
  describe(
    `jobs over ${broker === 'embedded' ? 'the embedded broker' : 'nats-server'}`,
    {
      // Without nats-server the block is skipped with the reason, unless CI requires it (then it fails).
      skip:
        broker === 'nats-server' &&
        findNatsServer() === undefined &&
        process.env.ADMIRAL_REQUIRE_NATS_SERVER !== '1'
          ? 'nats-server missing: apt-get install -y nats-server'
          : false,
      concurrency: false,
    },
    () => {
      let s: Setup | undefined;
      // One fleet for the whole block (starting one costs seconds): stopped in `after`.
      const cleanups: (() => unknown)[] = [];
      const shared = {
        after: (fn: () => unknown) => cleanups.push(fn),
        skip: () => undefined,
      } as unknown as TestContext;
      before(async () => {
        s = await setup(shared, broker);
      });
      after(async () => {
        for (const fn of cleanups.reverse()) await fn();
      });

      test('every target form reaches exactly its nodes, and all succeeding exits 0', async () => {
        assert.ok(s);
        const byNodes = await s.run(['run', '--nodes', 'ship1,ship2', '--', 'echo', 'hi']);
        assert.equal(byNodes.code, 0, byNodes.stdout + byNodes.stderr);
        assert.match(byNodes.stdout, /ship1: completed, exit 0\n {2}hi/);
        assert.match(byNodes.stdout, /2 nodes, 2 succeeded, 0 failed, 0 did not answer/);

        const glob = await s.run([
          '--format',
          'json',
          'run',
          '--where',
          'node=ship[13]',
          '--',
          'true',
        ]);
        assert.equal(glob.code, 0, glob.stderr);
        assert.deepEqual(Object.keys(states(jobOf(glob))), ['ship1', 'ship3']);

        const regex = await s.run([
          '--format',
          'json',
          'run',
          '--where',
          'node~^ship[24]$',
          '--',
          'true',
        ]);
        assert.deepEqual(Object.keys(states(jobOf(regex))), ['ship2', 'ship4']);

        const numericAnd = await s.run([
          '--format',
          'json',
          'run',
          '--where',
          'cpus>=1',
          '--where',
          'node=s*',
          '--where',
          'memory.total>0',
          '--',
          'true',
        ]);
        assert.deepEqual(Object.keys(states(jobOf(numericAnd))), [...SHIPS, 'solo']);

        const all = await s.run(['--format', 'json', 'run', '--all', '--', 'true']);
        const reached = Object.keys(states(jobOf(all)));
        for (const n of ['central', ...SHIPS, 'solo', 'rej']) assert.ok(reached.includes(n), n);

        const none = await s.run(['run', '--where', 'node=nomatch*', '--', 'true']);
        assert.equal(none.code, 5, 'no node matched: exit 5');
        assert.match(none.stderr, /matched no node/);
      });

      test('failed, expired and rejected nodes are named, with distinct exit codes', async () => {
        assert.ok(s);
        const failed = await s.run([
          'run',
          '--nodes',
          'ship1,ship2',
          '--',
          'sh',
          '-c',
          'echo out; exit 3',
        ]);
        assert.equal(failed.code, 2, 'some failed: exit 2');
        assert.match(failed.stdout, /ship1: failed, exit 3\n {2}out/);
        assert.match(
          failed.stdout,
          /failed \(2\): ship1 \(failed, exit 3\), ship2 \(failed, exit 3\)/,
        );

        // --wait: until the ttl has run out, so the never-seen node's message ends expired.
        const silent = await s.run([
          'run',
          '--wait',
          '--nodes',
          'ship1,ghost',
          '--ttl',
          '1s',
          '--',
          'true',
        ]);
        assert.equal(silent.code, 3, 'some did not answer: exit 3');
        assert.match(silent.stdout, /did not answer \(1\): ghost \(expired\)/);
        // A name central never saw is said at once, not only when the ttl has run out.
        assert.match(
          silent.stderr,
          /^note: central has never seen ghost; its message waits up to the job's ttl \(1 s\) for it$/m,
        );
        assert.doesNotMatch(silent.stderr, /ship1/);

        const both = await s.run([
          '--format',
          'json',
          'run',
          '--wait',
          '--nodes',
          'rej,ghost,ship3',
          '--ttl',
          '1s',
          '--',
          'true',
        ]);
        assert.equal(both.code, 4, 'failed and did not answer: exit 4');
        assert.deepEqual(states(jobOf(both)), {
          ghost: 'expired',
          rej: 'rejected',
          ship3: 'completed',
        });
      });

      test('run answers once the online nodes have, names the others, and keeps their commands', async () => {
        assert.ok(s);
        const t0 = Date.now();
        // A positional target, as `nodes` and `ping` take it; ghost is offline (never seen).
        const r = await s.run(['run', 'ship1,ghost', '--ttl', '60s', '--', 'echo', 'early']);
        const took = Date.now() - t0;
        assert.equal(r.code, 3, `some did not answer: exit 3\n${r.stdout}${r.stderr}`);
        assert.ok(took < 20_000, `run waited ${took} ms for an offline node (ttl 60 s)`);
        assert.match(r.stdout, /ship1: completed, exit 0\n {2}early/);
        assert.match(r.stderr, /not answered yet \(offline when the job started\): ghost;/);
        const id = /admiral jobs show (\S+) --wait/.exec(r.stderr)?.[1];
        assert.ok(id, r.stderr);
        const view = await s.run(['--format', 'json', 'jobs', 'show', id]);
        assert.equal(jobOf(view).state, 'running', "the job keeps the offline node's command");
        await s.run(['jobs', 'cancel', id]);

        const filtered = await s.run(['run', 'node=ship[12]', '--', 'echo', 'f']);
        assert.equal(filtered.code, 0, filtered.stderr);
        assert.deepEqual(
          Object.keys(
            states(jobOf(await s.run(['--format', 'json', 'run', 'node=ship[12]', '--', 'true']))),
          ).sort(),
          ['ship1', 'ship2'],
        );

        const extra = await s.run(['run', '--nodes', 'ship2', 'ship1', 'hostname', '--', 'true']);
        assert.equal(extra.code, 1);
        assert.match(extra.stderr, /Expected at most one target before --/);
      });

      test('a node killed mid-run ends did-not-answer, or interrupted once it is back', async () => {
        assert.ok(s);
        const { fleet } = s;
        const solo = fleet.nodes.get('solo');
        assert.ok(solo);
        const started = await s.run([
          'run',
          '--async',
          '--nodes',
          'solo',
          '--timeout',
          '2s',
          '--',
          'sleep',
          '20',
        ]);
        const id = started.stdout.trim();
        const runDir = join(solo.dataDir, 'run');
        await waitUntil(async () => {
          try {
            return readdirSync(runDir).some(
              (d) => readFileSync(join(runDir, d, 'pid'), 'utf8').trim() !== '',
            );
          } catch {
            return false;
          }
        }, 'the command to start');
        const runId = readdirSync(runDir)[0] as string;
        const pgid = runPid(join(runDir, runId));
        await solo.kill9();
        process.kill(-pgid, 'SIGKILL');
        const gone = await s.run(['--format', 'json', 'jobs', 'show', id, '--wait']);
        assert.equal(gone.code, 3, gone.stderr);
        assert.equal(states(jobOf(gone)).solo, 'did-not-answer');

        // Same again, but the node comes back: its restart reports the run interrupted, not re-run.
        const again = await s.run([
          'run',
          '--async',
          '--nodes',
          'solo',
          '--timeout',
          '30s',
          '--',
          'sleep',
          '20',
        ]);
        const id2 = again.stdout.trim();
        await solo.restart();
        await waitUntil(async () => {
          const ids = readdirSync(runDir).filter((d) => d !== runId);
          return ids.some((d) => {
            try {
              return readFileSync(join(runDir, d, 'pid'), 'utf8').trim() !== '';
            } catch {
              return false;
            }
          });
        }, 'the second command to start');
        const run2 = readdirSync(runDir).find((d) => d !== runId) as string;
        const pgid2 = runPid(join(runDir, run2));
        // Everything that could tell the command's end dies with the node: the spawner helper
        // that started it (and would record its exit code) and the command's group.
        const helper = parentOf(pgid2);
        await solo.kill9();
        process.kill(helper, 'SIGKILL');
        process.kill(-pgid2, 'SIGKILL');
        await solo.restart();
        const back = await s.run(['--format', 'json', 'jobs', 'show', id2, '--wait']);
        assert.equal(back.code, 2, back.stdout);
        assert.equal(states(jobOf(back)).solo, 'interrupted');
      });

      test('a cancelled job withdraws what has not started and cancels what runs', async () => {
        assert.ok(s);
        const started = await s.run([
          'run',
          '--async',
          '--nodes',
          'ship1,ship2,ship3',
          '--max-concurrency',
          '2',
          '--',
          'sleep',
          '20',
        ]);
        const id = started.stdout.trim();
        await waitUntil(async () => {
          const r = await s?.run(['--format', 'json', 'jobs', 'show', id]);
          return (jobOf(r?.stdout ?? '{}').counts?.acknowledged ?? 0) === 2;
        }, 'two nodes running');
        const cancel = await s.run(['jobs', 'cancel', id]);
        assert.equal(cancel.code, 0, cancel.stderr);
        const done = await s.run(['--format', 'json', 'jobs', 'show', id, '--wait']);
        const job = jobOf(done);
        assert.equal(job.state, 'cancelled');
        assert.deepEqual(Object.values(states(job)), ['cancelled', 'cancelled', 'cancelled']);
        assert.equal(done.code, 2);
      });

      test('max-errors stops starting nodes; the running ones finish and the job ends aborted', async () => {
        assert.ok(s);
        const r = await s.run([
          '--format',
          'json',
          'run',
          '--nodes',
          SHIPS.join(','),
          '--max-concurrency',
          '1',
          '--max-errors',
          '2',
          '--',
          'false',
        ]);
        const job = jobOf(r);
        assert.equal(r.code, 2);
        assert.equal(job.state, 'aborted');
        assert.match(
          job.reason ?? '',
          /aborted after 2 errors \(maxErrors 2\); 2 nodes not started/,
        );
        assert.deepEqual(Object.values(states(job)), [
          'failed',
          'failed',
          'cancelled',
          'cancelled',
        ]);
        assert.ok(
          (job.nodes ?? [])
            .filter((n) => n.state === 'cancelled')
            .every((n) => n.sentAt === undefined),
        );

        const pct = await s.run([
          '--format',
          'json',
          'run',
          '--nodes',
          SHIPS.join(','),
          '--max-concurrency',
          '25%',
          '--max-errors',
          '25%',
          '--',
          'false',
        ]);
        assert.deepEqual(Object.values(states(jobOf(pct))), [
          'failed',
          'cancelled',
          'cancelled',
          'cancelled',
        ]);
      });

      test('max-concurrency bounds the nodes running at once; batch-sleep pauses between batches', async () => {
        assert.ok(s);
        const r = await s.run([
          '--format',
          'json',
          'run',
          '--nodes',
          SHIPS.join(','),
          '--max-concurrency',
          '2',
          '--batch-sleep',
          '1s',
          '--',
          'sleep',
          '0.3',
        ]);
        assert.equal(r.code, 0, r.stderr);
        const nodes = [...(jobOf(r).nodes ?? [])].sort((a, b) => (a.sentAt ?? 0) - (b.sentAt ?? 0));
        for (const n of nodes) {
          const overlapping = nodes.filter(
            (m) => (m.sentAt ?? 0) < (n.finishedAt ?? 0) && (m.finishedAt ?? 0) > (n.sentAt ?? 0),
          );
          assert.ok(overlapping.length <= 2, `at most 2 at once around ${n.node}`);
        }
        const firstBatchEnd = Math.max(...nodes.slice(0, 2).map((n) => n.finishedAt ?? 0));
        const secondBatchStart = Math.min(...nodes.slice(2).map((n) => n.sentAt ?? 0));
        assert.ok(
          secondBatchStart - firstBatchEnd >= 1000,
          `slept ${secondBatchStart - firstBatchEnd} ms`,
        );
      });

      test('--async prints the id; jobs lists it; the job events say started and finished', async () => {
        assert.ok(s);
        const nc = await connect({ servers: s.fleet.brokerUrl });
        const events: string[] = [];
        const sub = nc.subscribe('adm.job.*.*', {
          callback: (_e, m) => {
            events.push(m.subject);
          },
        });
        await nc.flush();
        const r = await s.run(['run', '--async', '--nodes', 'ship1', '--', 'true']);
        const id = r.stdout.trim();
        assert.match(id, /^[0-9a-f-]{36}$/);
        const shown = await s.run(['jobs', 'show', id, '--wait']);
        assert.equal(shown.code, 0);
        // As git takes commits: a unique end (or start) of the id.
        const short = await s.run(['--format', 'json', 'jobs', 'show', id.slice(-8)]);
        assert.equal(short.code, 0, short.stderr);
        assert.equal(jobOf(short).id, id);
        const vague = await s.run(['jobs', 'show', id.slice(0, 4)]);
        assert.match(vague.stderr, /ambiguous|no job/);
        const list = await s.run(['--format', 'csv', '--cols', 'id,state', 'jobs']);
        assert.ok(list.stdout.includes(`${id},completed`), list.stdout);
        await waitUntil(async () => events.length >= 2, 'job events');
        assert.deepEqual(events.slice(0, 2), [`adm.job.${id}.started`, `adm.job.${id}.finished`]);
        sub.unsubscribe();
        await nc.close();
      });

      test('central refuses a job signed by a key it does not trust', async () => {
        assert.ok(s);
        const r = await s.run(['--data-dir', 'ship1', 'run', '--nodes', 'ship2', '--', 'true']);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /Fatal error: .*untrusted key/);
        assert.doesNotMatch(
          r.stderr,
          /found no node identity/,
          "ship1's own key: no data-dir hint",
        );
        // Started where there is no data dir: the key is made for this call, so the fix is the
        // data dir, and the error says so.
        const lost = await s.run([
          '--broker',
          s.fleet.brokerUrl,
          '--data-dir',
          'no-such-dir',
          'run',
          '--nodes',
          'ship2',
          '--',
          'true',
        ]);
        assert.equal(lost.code, 1);
        assert.match(
          lost.stderr,
          /found no node identity at \S*no-such-dir\/identity\.seed.*--data-dir DIR or ADMIRAL_DATA_DIR/,
        );
      });

      test("the HTTP API takes jobs with a bearer token, answers per node and in amiral's shape", async () => {
        assert.ok(s);
        const base = /http:\s+(http:\/\/\S+)/.exec(s.fleet.central.output())?.[1];
        assert.ok(base, s.fleet.central.output());
        const token = readFileSync(join(s.fleet.central.dataDir, 'api-token'), 'utf8').trim();
        const auth = { authorization: `Bearer ${token}` };
        const denied = await fetch(`${base}/api/v1/jobs`, { method: 'POST', body: '{}' });
        assert.equal(denied.status, 401);
        const wrong = await fetch(`${base}/api/v1/nodes`, {
          headers: { authorization: 'Bearer nope' },
        });
        assert.equal(wrong.status, 401);

        const post = await fetch(`${base}/api/v1/jobs?wait=20`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({ args: ['sh', '-c', 'echo api'], where: { node: 'ship[12]' } }),
        });
        assert.equal(post.status, 201);
        const job = (await post.json()) as JobView;
        assert.equal(job.state, 'completed');
        assert.deepEqual(states(job), { ship1: 'completed', ship2: 'completed' });
        assert.equal(job.nodes?.[0]?.output, 'api\n');

        const amiral = (await (
          await fetch(`${base}/api/v1/jobs/${job.id}?format=amiral`, { headers: auth })
        ).json()) as { count: number; message: string; resps: Record<string, unknown>[] };
        assert.equal(amiral.count, 2);
        assert.equal(amiral.resps.length, 2);
        for (const r of amiral.resps) {
          assert.equal(r.in_reply_to, job.id);
          assert.equal(r.status, 'complete');
          assert.deepEqual(r.output, { exit: 0, short: 'api' });
          assert.equal(typeof r.uuid, 'string');
          assert.equal(typeof r.hostname, 'string');
        }
        assert.match(amiral.message, /: api\n.*: api$/s);

        const later = await fetch(`${base}/api/v1/jobs`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({ args: ['true'], nodes: ['ship3'] }),
        });
        const pending = (await later.json()) as JobView;
        const waited = (await (
          await fetch(`${base}/api/v1/jobs/${pending.id}?wait=20`, { headers: auth })
        ).json()) as JobView;
        assert.equal(waited.state, 'completed');

        const bad = await fetch(`${base}/api/v1/jobs`, {
          method: 'POST',
          headers: auth,
          body: JSON.stringify({ args: [], nodes: ['ship1'] }),
        });
        assert.equal(bad.status, 400);
        assert.match(((await bad.json()) as { error: string }).error, /`args`/);

        const nodes = (await (await fetch(`${base}/api/v1/nodes`, { headers: auth })).json()) as {
          node: string;
          online: boolean;
        }[];
        assert.ok(nodes.some((n) => n.node === 'ship4' && n.online));
      });

      test('live: nodes answer start or noop, then complete', async () => {
        assert.ok(s);
        const r = await s.run([
          'run',
          '--live',
          '--where',
          'node=ship[12]',
          '--discovery-timeout',
          '1s',
          '--',
          'echo',
          'live',
        ]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        // central, four ships and solo answer (2 match, 4 noop); rej trusts another central and
        // ignores the broadcast it cannot verify.
        assert.match(r.stdout, /got 2\/6 positive acknowledgements\n/);
        assert.match(r.stdout, /ship1: completed, exit 0\n {2}live/);
        assert.match(r.stdout, /got 2 responses/);
        const fail = await s.run([
          'run',
          '--live',
          '--where',
          'node=ship3',
          '--discovery-timeout',
          '1s',
          '--',
          'false',
        ]);
        assert.equal(fail.code, 2);
        const none = await s.run([
          'run',
          '--live',
          '--where',
          'node=zzz',
          '--discovery-timeout',
          '500ms',
          '--',
          'true',
        ]);
        assert.equal(none.code, 5);
        assert.match(none.stdout, /got 0\/6 positive acknowledgements/);
      });
    },
  );
}
