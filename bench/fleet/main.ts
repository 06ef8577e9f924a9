// bench/fleet: `admiral ping` over 100, 1,000 and 5,000 simulated nodes beside the floor, a raw
// NATS request fan-out to the same nodes over the same broker (one request per node, all in
// flight at once, from the same client process). Ratio = floor / admiral (≥ 0.5 is the goal;
// above 1 means the broadcast beats one-request-per-node). A real central (`admiral node start
// --central-role`) keeps the inventory the ping takes its expected list from.
//   node dist/bench/fleet/main.js [--quick] [--broker embedded|nats-server|both] [--runs N]
//     [--run-only]      (only `admiral run` and the raw floor: no ping, no CLI process timing)
//     [--profile DIR]   (central runs under `node --cpu-prof`, its profile written to DIR)
// `admiral run -- true` is timed from submit to the job's end, beside the same floor; the simulated
// nodes ACK and reply as a node does but spawn nothing. ADMIRAL_BENCH_SIZES=100,1000 picks sizes;
// ADMIRAL_BENCH_TRACE=1 prints when nodes were sent, ACKed and finished.
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
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
  generateIdentity,
  identityFromSeed,
  isValidSignature,
  type Message,
  newMessageId,
  Subjects,
  signMessage,
} from '../../src/protocol/index.js';
import { type BrokerProcess, startEmbedded, startNatsServer } from '../lib/brokers.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const SIM = fileURLToPath(new URL('./sim-nodes.js', import.meta.url));
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const quick = process.argv.includes('--quick');
const SIZES = process.env.ADMIRAL_BENCH_SIZES
  ? process.env.ADMIRAL_BENCH_SIZES.split(',').map(Number)
  : quick
    ? [100, 1000]
    : [100, 1000, 5000];
const RUNS = Number(arg('--runs') ?? (quick ? 3 : 5));
const BROKERS =
  (arg('--broker') ?? 'both') === 'both' ? ['embedded', 'nats-server'] : [arg('--broker')!];
const PROCESSES = 4;
const PROFILE = arg('--profile');
const RUN_ONLY = process.argv.includes('--run-only');
const subjects = new Subjects();

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
): Promise<{ names: string[]; pids: number[]; stop(): Promise<void> }> {
  const per = Math.ceil(n / PROCESSES);
  const children: ChildProcess[] = [];
  const ready: Promise<void>[] = [];
  for (let p = 0; p < PROCESSES && p * per < n; p++) {
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

/** `admiral run -- true` on every node: submit the job to central and wait for its end. */
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

/** Processes whose CPU the trace reports. */
interface Pids {
  readonly central: number | undefined;
  readonly broker: number;
  readonly sims: readonly number[];
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

async function admiralRun(
  client: AdmiralClient,
  names: readonly string[],
  pids: Pids,
): Promise<{ ms: number; fleetCpuMs: number }> {
  const cpu0 = [cpuMs(pids.central), cpuMs(pids.broker), sum(pids.sims.map(cpuMs))];
  const t0 = performance.now();
  const job = await submitJob(client, { args: ['true'], nodes: [...names] });
  const done = await waitForJob(client, job.id);
  if (process.env.ADMIRAL_BENCH_TRACE === '1') {
    const ns = done.nodes ?? [];
    const q = (f: (n: (typeof ns)[number]) => number | undefined): string => {
      const xs = ns.map((n) => (f(n) ?? Number.NaN) - done.createdAt).sort((a, b) => a - b);
      return `${xs[0]}/${xs[Math.floor(xs.length / 2)]}/${xs[xs.length - 1]}`;
    };
    console.log(
      `  trace ms after create (min/median/max): sent ${q((n) => n.sentAt)} acked ${q((n) => n.ackedAt)} finished ${q((n) => n.finishedAt)} job end ${(done.finishedAt ?? 0) - done.createdAt}; CPU ms central ${(cpuMs(pids.central) - (cpu0[0] ?? 0)).toFixed(0)} broker ${(cpuMs(pids.broker) - (cpu0[1] ?? 0)).toFixed(0)} sims ${(sum(pids.sims.map(cpuMs)) - (cpu0[2] ?? 0)).toFixed(0)}`,
    );
  }
  const ms = performance.now() - t0;
  if (done.counts.succeeded !== names.length) {
    throw new Error(`run: ${done.counts.succeeded}/${names.length} succeeded (${done.state})`);
  }
  // What the simulated nodes and the broker used meanwhile: work a central cannot take off them.
  const fleetCpuMs =
    cpuMs(pids.broker) - (cpu0[1] ?? 0) + (sum(pids.sims.map(cpuMs)) - (cpu0[2] ?? 0));
  return { ms, fleetCpuMs };
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
  run: number;
  /** CPU ms of the simulated nodes and the broker during a job (median). */
  fleetCpu: number;
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

async function benchBroker(broker: BrokerProcess): Promise<Row[]> {
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
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ADMIRAL_CENTRAL__DISCOVERY__PORT: '0' },
    },
  );
  await waitForLine(central, /node \S+ is up/);
  central.stdout?.resume();
  central.stderr?.resume();
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
        for (;;) {
          const known = await inventoryNames(nc, subjects, {
            identity: client.identity,
            onlineOnly: true,
          });
          if (known.length >= names.length) break;
          await new Promise((r) => setTimeout(r, 100));
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
        const jobs: { ms: number; fleetCpuMs: number }[] = [];
        for (let r = 0; r < RUNS; r++)
          jobs.push(
            await admiralRun(client, sims.names, {
              central: central.pid,
              broker: broker.pid,
              sims: sims.pids,
            }),
          );
        const row = {
          broker: broker.name,
          nodes: n,
          ping: median(pings),
          raw: median(raws),
          cli,
          run: median(jobs.map((j) => j.ms)),
          fleetCpu: median(jobs.map((j) => j.fleetCpuMs)),
        };
        rows.push(row);
        console.log(
          `${row.broker.padEnd(12)} ${String(n).padStart(5)} nodes  admiral ping ${row.ping.toFixed(1).padStart(7)} ms  raw fan-out ${row.raw.toFixed(1).padStart(7)} ms  ratio ${(row.raw / row.ping).toFixed(2)}  (CLI process ${row.cli.toFixed(0)} ms)  admiral run -- true ${row.run.toFixed(1).padStart(7)} ms  ratio ${(row.raw / row.run).toFixed(2)}`,
        );
      } finally {
        await sims.stop();
      }
    }
  } finally {
    await nc.close();
    central.kill('SIGTERM');
    await new Promise((r) => central.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

/**
 * CPU per node of the signature work `admiral run` cannot skip in this bench: central signs the
 * request and verifies the reply, the simulated node signs the reply (a real node also verifies
 * the request: not counted, the bound is for this bench). Measured here, on a message of the
 * job's shape, so the table can say what ratio the signatures alone would allow on these cores.
 */
function signatureCostMs(): { signMs: number; verifyMs: number } {
  const identity = generateIdentity();
  const made = completeMessage(
    {
      toNode: 'sim123',
      method: 'REQCliCommand',
      methodArgs: ['true'],
      replyMethod: 'REQNone',
      jobId: newMessageId(),
    },
    { fromNode: 'central' },
  );
  if (!made.ok) throw new Error(made.errors.join('; '));
  const msg: Message = made.value[0]!;
  const rounds = 2000;
  let env = signMessage(msg, identity);
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) env = signMessage(msg, identity);
  const t1 = performance.now();
  for (let i = 0; i < rounds; i++) isValidSignature(env.msg, env.sig, env.signer);
  const t2 = performance.now();
  return { signMs: (t1 - t0) / rounds, verifyMs: (t2 - t1) / rounds };
}

const all: Row[] = [];
const sig = signatureCostMs();
const sigMs = 2 * sig.signMs + sig.verifyMs;
for (const b of BROKERS) {
  const broker = b === 'embedded' ? await startEmbedded() : await startNatsServer();
  try {
    all.push(...(await benchBroker(broker)));
  } finally {
    await broker.stop();
  }
}
const startup = median([await cliStartup(), await cliStartup(), await cliStartup()]);
console.log(`\nCLI start-up alone (admiral --version): ${startup.toFixed(0)} ms`);
console.log(
  '\n| broker | nodes | admiral ping (ms) | raw request fan-out (ms) | ratio floor/admiral | `admiral ping` process wall (ms) | `admiral run -- true` (ms) | ratio floor/run |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of all) {
  console.log(
    `| ${r.broker} | ${r.nodes} | ${r.ping.toFixed(1)} | ${r.raw.toFixed(1)} | ${(r.raw / r.ping).toFixed(2)} | ${r.cli.toFixed(0)} | ${r.run.toFixed(1)} | ${(r.raw / r.run).toFixed(2)} |`,
  );
}
const cores = availableParallelism();
console.log(
  `\nSignature work alone (2 signs + 1 verify per node): ${(sigMs * 1000).toFixed(0)} µs CPU per node; spread over ${cores} cores with nothing else running, \`admiral run\` could not beat:`,
);
for (const r of all) {
  const bound = (r.nodes * sigMs) / cores;
  console.log(
    `  ${r.broker} ${r.nodes} nodes: ${bound.toFixed(0)} ms, best ratio floor/run ${(r.raw / bound).toFixed(2)}`,
  );
}
console.log(
  `\nThe simulated nodes and the broker alone (their CPU during a job, median of the runs; a node decodes, ACKs, signs and sends its reply), then with central's own signature work added (1 sign + 1 verify per node, ${((sig.signMs + sig.verifyMs) * 1000).toFixed(0)} µs): on ${cores} cores, \`admiral run\` could not beat:`,
);
for (const r of all) {
  const fleetOnly = r.fleetCpu / cores;
  const withSignatures = (r.fleetCpu + r.nodes * (sig.signMs + sig.verifyMs)) / cores;
  console.log(
    `  ${r.broker} ${r.nodes} nodes: ${r.fleetCpu.toFixed(0)} ms CPU; a central that cost nothing: ${fleetOnly.toFixed(0)} ms, best ratio floor/run ${(r.raw / fleetOnly).toFixed(2)}; one that only signs and verifies: ${withSignatures.toFixed(0)} ms, best ratio ${(r.raw / withSignatures).toFixed(2)}`,
  );
}
