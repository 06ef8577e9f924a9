// bench/fleet, over 1,000, 5,000 and 10,000 simulated nodes and a real central (`admiral node
// start --central-role`) on each broker:
// - `admiral ping` beside a raw NATS request fan-out to the same nodes over the same broker (one
//   request per node, all in flight at once, from the same client process); ratio = raw / ping.
// - `admiral run -- true`: central's CPU (all threads, /proc) and the broker's per node during
//   each job, the job's wall time, central's peak RSS (VmHWM, reset before each job), beside the
//   floor measured in the same run (one process signing one request, verifying one reply and
//   committing both per node); ratio = floor CPU per node / central CPU per node.
//   node dist/bench/fleet/main.js [--quick] [--broker embedded|nats-server|jetstream|both|all,…]
//     [--runs N]   (jetstream: nats-server -js, central with --central-state jetstream)
//     [--sizes 1000,10000]  (or ADMIRAL_BENCH_SIZES)
//     [--run-only]      (only `admiral run` and its floor: no ping, no CLI process timing)
//     [--profile DIR]   (central runs under `node --cpu-prof`, its profile written to DIR)
// The simulated nodes ACK and reply as a node does but spawn nothing. ADMIRAL_BENCH_TRACE=1
// prints when nodes were sent, ACKed and finished, and each job's figures.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { AdmiralClient } from '../../src/client/connect.js';
import { inventoryNames } from '../../src/fleet/inventory-client.js';
import { submitJob, waitForJob } from '../../src/fleet/jobs-client.js';
import { pingFleet } from '../../src/fleet/ping.js';
import {
  completeMessage,
  createReply,
  decodeJson,
  type Envelope,
  encodeEnvelope,
  generateIdentity,
  identityFromSeed,
  isValidSignature,
  type Message,
  newMessageId,
  Subjects,
  signMessage,
  signMessages,
} from '../../src/protocol/index.js';
import { openDatabase } from '../../src/store/db.js';
import { type BrokerProcess, startEmbedded, startNatsServer } from '../lib/brokers.js';
import { CLI_BUNDLE } from '../../src/layout.js';

const CLI = CLI_BUNDLE;
const SIM = fileURLToPath(new URL('./sim-nodes.js', import.meta.url));
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const quick = process.argv.includes('--quick');
const sizesArg = arg('--sizes') ?? process.env.ADMIRAL_BENCH_SIZES;
const SIZES = sizesArg
  ? sizesArg.split(',').map(Number)
  : quick
    ? [100, 1000]
    : [1000, 5000, 10000];
const RUNS = Number(arg('--runs') ?? (quick ? 3 : 5));
const BROKER_SETS: Readonly<Record<string, readonly string[]>> = {
  both: ['embedded', 'nats-server'],
  all: ['embedded', 'nats-server', 'jetstream'],
};
const BROKERS = (arg('--broker') ?? 'both').split(',').flatMap((b) => BROKER_SETS[b] ?? [b]);
/** Simulated nodes per sim process (at least 4 processes). */
const PER_PROCESS = 2500;
const PROFILE = arg('--profile');
const RUN_ONLY = process.argv.includes('--run-only');
const subjects = new Subjects();

const trace = (line: string): void => {
  if (process.env.ADMIRAL_BENCH_TRACE === '1') console.log(`  ${new Date().toISOString()} ${line}`);
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

function waitForLine(child: ChildProcess, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const on = (d: Buffer): void => {
      seen += d.toString();
      if (pattern.test(seen)) resolve();
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (c) => reject(new Error(`exited ${c}: ${seen}`)));
  });
}

/** A fleet of `n` simulated nodes spread over PROCESSES processes. */
async function startSims(
  url: string,
  n: number,
): Promise<{
  names: string[];
  pids: number[];
  hello(missing: readonly string[]): void;
  stop(): Promise<void>;
}> {
  const processes = Math.max(4, Math.ceil(n / PER_PROCESS));
  const per = Math.ceil(n / processes);
  const children: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  for (let p = 0; p < processes && p * per < n; p++) {
    const count = Math.min(per, n - p * per);
    const child = fork(SIM, [JSON.stringify({ url, prefix: 'sim', from: p * per, count })], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.push(child);
    ready.push(
      new Promise((resolve, reject) => {
        child.once('message', () => resolve());
        child.once('exit', (c) => reject(new Error(`sim process exited ${c}`)));
      }),
    );
  }
  await Promise.all(ready);
  return {
    names: Array.from({ length: n }, (_, i) => `sim${i}`),
    pids: children.map((c) => c.pid ?? 0),
    hello: (missing) => {
      for (const c of children) c.send({ type: 'hello', names: missing });
    },
    stop: async () => {
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              c.once('exit', () => resolve());
              c.send({ type: 'stop' });
              setTimeout(() => c.kill('SIGKILL'), 5000).unref();
            }),
        ),
      );
    },
  };
}

/** The floor: one plain request per node, all in flight at once. */
async function rawFanOut(nc: NatsConnection, names: readonly string[]): Promise<number> {
  const t0 = performance.now();
  const replies = await Promise.all(
    names.map((n) => nc.request(subjects.key(n), '', { timeout: 10_000 })),
  );
  if (replies.length !== names.length) throw new Error('missing replies');
  return performance.now() - t0;
}

async function admiralPing(client: AdmiralClient, expected: number): Promise<number> {
  const report = await pingFleet(client.nc, subjects, {
    target: { all: true },
    timeoutMs: 10_000,
    identity: client.identity,
  });
  if (report.replies.length !== expected || report.missing.length > 0) {
    throw new Error(
      `ping: ${report.replies.length}/${expected} answered, missing ${report.missing.length}`,
    );
  }
  return report.elapsedMs;
}

/** CPU ms (user + system, all threads) a process has used, from /proc (Linux; NaN elsewhere). */
function cpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, USER_HZ = 100
  } catch {
    return Number.NaN;
  }
}

/** Peak resident memory (VmHWM) of a process in MiB, from /proc. */
function peakRssMiB(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Resets a process's VmHWM to its current RSS (Linux ≥ 4.0, `clear_refs` 5), so the next read is this job's peak. */
function resetPeakRss(pid: number | undefined): void {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
  } catch {
    // not Linux or not allowed: the peak then covers the process's whole life
  }
}

/** Processes whose CPU the trace reports. */
interface Pids {
  readonly central: number | undefined;
  readonly broker: number;
  readonly sims: readonly number[];
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

interface JobFigures {
  /** Submit to the final view, ms. */
  readonly ms: number;
  /** CPU ms of central (all threads) and of the broker during the job. */
  readonly centralCpuMs: number;
  readonly brokerCpuMs: number;
  /** Peak RSS of central during the job, MiB. */
  readonly centralPeakMiB: number;
}

/** `admiral run -- true` on every node: submit the job to central and wait for its end. */
async function admiralRun(
  client: AdmiralClient,
  names: readonly string[],
  pids: Pids,
): Promise<JobFigures> {
  resetPeakRss(pids.central);
  const cpu0 = [cpuMs(pids.central), cpuMs(pids.broker), sum(pids.sims.map(cpuMs))];
  const t0 = performance.now();
  const job = await submitJob(client, { args: ['true'], nodes: [...names] });
  const done = await waitForJob(client, job.id);
  const ms = performance.now() - t0;
  const centralCpuMs = cpuMs(pids.central) - (cpu0[0] ?? 0);
  const brokerCpuMs = cpuMs(pids.broker) - (cpu0[1] ?? 0);
  const centralPeakMiB = peakRssMiB(pids.central);
  if (process.env.ADMIRAL_BENCH_TRACE === '1') {
    const ns = done.nodes ?? [];
    const q = (f: (n: (typeof ns)[number]) => number | undefined): string => {
      const xs = ns.map((n) => (f(n) ?? Number.NaN) - done.createdAt).sort((a, b) => a - b);
      return `${xs[0]}/${xs[Math.floor(xs.length / 2)]}/${xs[xs.length - 1]}`;
    };
    console.log(
      `  trace ms after create (min/median/max): sent ${q((n) => n.sentAt)} acked ${q((n) => n.ackedAt)} finished ${q((n) => n.finishedAt)} job end ${(done.finishedAt ?? 0) - done.createdAt}; wall ${ms.toFixed(0)}; CPU ms central ${centralCpuMs.toFixed(0)} broker ${brokerCpuMs.toFixed(0)} sims ${(sum(pids.sims.map(cpuMs)) - (cpu0[2] ?? 0)).toFixed(0)}; central peak RSS ${centralPeakMiB.toFixed(0)} MiB`,
    );
  }
  if (done.counts.succeeded !== names.length) {
    throw new Error(`run: ${done.counts.succeeded}/${names.length} succeeded (${done.state})`);
  }
  return { ms, centralCpuMs, brokerCpuMs, centralPeakMiB };
}

function cliPing(url: string, dataDir: string, expected: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(
      process.execPath,
      [
        CLI,
        'ping',
        '--all',
        '--broker',
        url,
        '--data-dir',
        dataDir,
        '--timeout',
        '10s',
        '--format',
        'json',
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('exit', (code) => {
      const ms = performance.now() - t0;
      const r = JSON.parse(out || '{}') as { replies?: unknown[] };
      if (code !== 0 || r.replies?.length !== expected)
        reject(new Error(`admiral ping exited ${code}, ${r.replies?.length} replies`));
      else resolve(ms);
    });
  });
}

interface Row {
  broker: string;
  nodes: number;
  ping: number;
  raw: number;
  cli: number;
  /** `admiral run -- true`, submit to the final view, ms (median of the runs). */
  run: number;
  /** Central's and the broker's CPU per node during a job, µs (median of the runs). */
  centralUs: number;
  brokerUs: number;
  /** Central's peak RSS during a job, MiB (largest of the runs). */
  centralPeakMiB: number;
}

/** The CLI's own start-up (`admiral --version`), to read the process wall time against. */
function cliStartup(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, '--version'], { stdio: 'ignore' });
    child.once('exit', (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`--version exited ${code}`)),
    );
  });
}

async function benchBroker(
  broker: BrokerProcess,
  centralArgs: readonly string[] = [],
): Promise<Row[]> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-bench-fleet-'));
  const central = spawn(
    process.execPath,
    [
      ...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', PROFILE] : []),
      CLI,
      'node',
      'start',
      '--name',
      'central',
      '--central-role',
      '--data-dir',
      join(dir, 'central'),
      '--broker',
      broker.url,
      '--log-level',
      'warn',
      ...centralArgs,
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ADMIRAL_CENTRAL__DISCOVERY__PORT: '0' },
    },
  );
  await waitForLine(central, /node \S+ is up/);
  // What central said last, printed if it ends before the bench stops it.
  let said = '';
  const keep = (d: Buffer): void => {
    said = (said + d.toString()).slice(-4000);
  };
  central.stdout?.on('data', keep);
  central.stderr?.on('data', keep);
  let stopping = false;
  central.once('exit', (code, signal) => {
    if (!stopping) console.error(`central exited (${code ?? signal}) during the bench:\n${said}`);
  });
  const nc = await connect({ servers: broker.url, name: 'bench-fleet' });
  // Jobs are signed: the bench speaks with central's own key, as the CLI on central's machine does.
  const client = {
    nc,
    subjects,
    central: 'central',
    identity: identityFromSeed(readFileSync(join(dir, 'central', 'identity.seed'), 'utf8')),
    localIdentity: true,
    dataDir: join(dir, 'central'),
    brokerUrl: broker.url,
    close: async () => undefined,
  } satisfies AdmiralClient;
  const rows: Row[] = [];
  try {
    for (const n of SIZES) {
      const sims = await startSims(broker.url, n);
      try {
        // Every simulated node plus the central itself, once the inventory has them all.
        const names = [...sims.names, 'central'];
        trace(`${n} simulated nodes connected`);
        for (let last = -1; ;) {
          const known = await inventoryNames(nc, subjects, {
            identity: client.identity,
            onlineOnly: true,
          }).catch(() => [] as string[]);
          if (known.length >= names.length) break;
          if (known.length !== last) trace(`inventory: ${known.length}/${names.length} online`);
          // Hellos are events, not durable messages: a burst of thousands loses some (central
          // drops what it cannot take). A real node says hello again on its interval; these
          // do when asked.
          else if (known.length > 0) {
            const seen = new Set(known);
            sims.hello(names.filter((x) => !seen.has(x)));
          }
          last = known.length;
          await new Promise((r) => setTimeout(r, 1000));
        }
        const pings: number[] = [];
        const raws: number[] = [];
        for (let r = 0; r < RUNS; r++) {
          raws.push(await rawFanOut(nc, names));
          pings.push(RUN_ONLY ? Number.NaN : await admiralPing(client, names.length));
        }
        // The CLI on central's machine: central's key signs its inventory query.
        const cli = RUN_ONLY
          ? Number.NaN
          : median([
              await cliPing(broker.url, join(dir, 'central'), names.length),
              await cliPing(broker.url, join(dir, 'central'), names.length),
              await cliPing(broker.url, join(dir, 'central'), names.length),
            ]);
        const jobs: JobFigures[] = [];
        for (let r = 0; r < RUNS; r++)
          jobs.push(
            await admiralRun(client, sims.names, {
              central: central.pid,
              broker: broker.pid,
              sims: sims.pids,
            }),
          );
        const row: Row = {
          broker: broker.name,
          nodes: n,
          ping: median(pings),
          raw: median(raws),
          cli,
          run: median(jobs.map((j) => j.ms)),
          centralUs: (median(jobs.map((j) => j.centralCpuMs)) * 1000) / n,
          brokerUs: (median(jobs.map((j) => j.brokerCpuMs)) * 1000) / n,
          centralPeakMiB: Math.max(...jobs.map((j) => j.centralPeakMiB)),
        };
        rows.push(row);
        console.log(
          `${row.broker.padEnd(12)} ${String(n).padStart(5)} nodes  admiral ping ${row.ping.toFixed(1).padStart(7)} ms  raw fan-out ${row.raw.toFixed(1).padStart(7)} ms  ratio ${(row.raw / row.ping).toFixed(2)}  (CLI process ${row.cli.toFixed(0)} ms)  admiral run -- true ${row.run.toFixed(0).padStart(6)} ms  central ${row.centralUs.toFixed(0)} µs/node  broker ${row.brokerUs.toFixed(0)} µs/node  central peak RSS ${row.centralPeakMiB.toFixed(0)} MiB`,
        );
      } finally {
        await sims.stop();
      }
    }
  } finally {
    await nc.close();
    stopping = true;
    central.kill('SIGTERM');
    await new Promise((r) => central.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

/**
 * The floor: the CPU one process needs per node for the unavoidable work of a signed, durable
 * command as the design stands, measured on messages of the job's shape: sign one request per
 * node and commit it durably, verify one signed reply per node and commit it, one SQLite commit
 * per batch of FLOOR_BATCH rows (central's stores batch their commits the same way), with
 * central's pragmas (WAL, synchronous=NORMAL). Nothing else: no broker, no validation, no job.
 */
const FLOOR_BATCH = 256;
/**
 * `batchSigned`: requests signed as central signs them now, one signature per 64 over a Merkle
 * root (protocol/merkle.ts): the floor of this design. Without it, one signature per request:
 * the floor as issue 12 first measured it, which the printed ratio keeps comparing against.
 */
async function floorCpuUsPerNode(n: number, batchSigned: boolean): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-bench-floor-'));
  const store = openDatabase({ dataDir: dir });
  try {
    store.db.exec('CREATE TABLE msg (id TEXT PRIMARY KEY, envelope BLOB NOT NULL)');
    const insert = store.db.prepare('INSERT INTO msg (id, envelope) VALUES (?, ?)');
    const commit = store.db.transaction((rows: [string, Uint8Array][]) => {
      for (const [id, bytes] of rows) insert.run(id, bytes);
    });
    const central = generateIdentity();
    const node = generateIdentity();
    const jobId = newMessageId();
    const now = Date.now();
    const requests: Message[] = [];
    for (let i = 0; i < n; i++) {
      const made = completeMessage(
        { toNode: `sim${i}`, method: 'REQCliCommand', methodArgs: ['true'], jobId },
        { fromNode: 'central', now },
      );
      if (!made.ok) throw new Error(made.errors.join('; '));
      requests.push(made.value[0]!);
    }
    // The replies are the nodes' work: signed before the clock starts.
    const replies = requests.map((m) => {
      const reply: Message = {
        ...createReply(m, { fromNode: m.toNode!, data: [''] }),
        method: 'REQNone',
        status: 'ok',
        exitCode: 0,
      };
      return encodeEnvelope(signMessage(reply, node), 'none');
    });
    const c0 = process.cpuUsage();
    let batch: [string, Uint8Array][] = [];
    const signed = batchSigned
      ? signMessages(requests, central)
      : requests.map((m) => signMessage(m, central));
    for (const env of signed) {
      batch.push([env.msg.id, encodeEnvelope(env, 'none')]);
      if (batch.length === FLOOR_BATCH) {
        commit(batch);
        batch = [];
      }
    }
    for (const bytes of replies) {
      // JSON parse and the signature check; the schema check of a hostile reply is left out.
      const env = decodeJson(bytes) as Envelope;
      if (!isValidSignature(env.msg, env.sig, env.signer)) throw new Error('floor: bad signature');
      batch.push([`r${env.msg.id}`, bytes]);
      if (batch.length === FLOOR_BATCH) {
        commit(batch);
        batch = [];
      }
    }
    if (batch.length > 0) commit(batch);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / n;
  } finally {
    store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const all: Row[] = [];
const floors = new Map<number, number>();
const batchFloors = new Map<number, number>();
for (const n of SIZES) {
  const xs: number[] = [];
  const bs: number[] = [];
  for (let r = 0; r < 3; r++) {
    xs.push(await floorCpuUsPerNode(n, false));
    bs.push(await floorCpuUsPerNode(n, true));
  }
  floors.set(n, median(xs));
  batchFloors.set(n, median(bs));
}
for (const b of BROKERS) {
  if (!['embedded', 'nats-server', 'jetstream'].includes(b)) {
    throw new Error(
      `Expected --broker to be embedded, nats-server, jetstream, both or all, got ${b}`,
    );
  }
  const storeDir = await mkdtemp(join(tmpdir(), 'admiral-bench-js-'));
  const broker =
    b === 'embedded'
      ? await startEmbedded()
      : b === 'jetstream'
        ? {
            ...(await startNatsServer(['-js', '-sd', storeDir])),
            name: 'nats-server + JetStream central',
          }
        : await startNatsServer();
  try {
    all.push(
      ...(await benchBroker(broker, b === 'jetstream' ? ['--central-state', 'jetstream'] : [])),
    );
  } finally {
    await broker.stop();
    await rm(storeDir, { recursive: true, force: true });
  }
}
if (!RUN_ONLY) {
  const startup = median([await cliStartup(), await cliStartup(), await cliStartup()]);
  console.log(`\nCLI start-up alone (admiral --version): ${startup.toFixed(0)} ms`);
  console.log(
    '\n| broker | nodes | admiral ping (ms) | raw request fan-out (ms) | ratio floor/admiral | `admiral ping` process wall (ms) |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const r of all) {
    console.log(
      `| ${r.broker} | ${r.nodes} | ${r.ping.toFixed(1)} | ${r.raw.toFixed(1)} | ${(r.raw / r.ping).toFixed(2)} | ${r.cli.toFixed(0)} |`,
    );
  }
}
console.log(
  `\n\`admiral run -- true\` (median of ${RUNS}); floor = CPU of one process signing one request, verifying one reply and committing both per node (batches of ${FLOOR_BATCH}), median of 3; ratio = floor / central CPU per node; batch-signed floor = the same with requests signed 64 per signature, as central signs them (the floor of this design):`,
);
console.log(
  '\n| broker | nodes | wall (ms) | central CPU per node (µs) | broker CPU per node (µs) | floor CPU per node (µs) | ratio | batch-signed floor (µs) | central peak RSS (MiB) |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of all) {
  const floor = floors.get(r.nodes) ?? Number.NaN;
  console.log(
    `| ${r.broker} | ${r.nodes} | ${r.run.toFixed(0)} | ${r.centralUs.toFixed(0)} | ${r.brokerUs.toFixed(0)} | ${floor.toFixed(0)} | ${(floor / r.centralUs).toFixed(2)} | ${(batchFloors.get(r.nodes) ?? Number.NaN).toFixed(0)} | ${r.centralPeakMiB.toFixed(0)} |`,
  );
}
