// bench/idle: what an idle admiral costs in memory, and how long `admiral up` takes to be ready.
// - An idle `admiral node start` (connected to a broker, nothing to do) and an idle `admiral up`
//   (its embedded broker, central, HTTP API): resident memory (VmRSS) after --settle seconds, and
//   the peak (VmHWM) until then.
// - The reference, in the same run: a bare Node.js process holding one NATS connection with one
//   subscription (nats.js, as admiral uses it), measured the same way. ratio = reference RSS /
//   admiral RSS (1 = admiral costs no more than the bare connection).
// - `admiral up`'s ready time: from spawn to its "admiral is up" lines, beside `node -e ''`'s
//   start-up (the floor any Node.js command pays).
//   node dist/bench/idle/main.js [--settle 35] [--runs 3] [--cli dist/bin/admiral.js] [--node-flags '…']
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startNatsServer } from '../lib/brokers.js';

/** The package's root (dist/bench/idle → ../../..): the reference resolves nats.js from there. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
/** The CLI measured: the bundle `bin` runs (scripts/build-cli.mjs), or --cli (e.g. dist/src/cli/main.js). */
const CLI = resolve(ROOT, arg('--cli') ?? 'dist/bin/admiral.js');
/** Node flags put before the CLI (--node-flags '--max-semi-space-size=1'), to measure them. */
const NODE_FLAGS = (arg('--node-flags') ?? '').split(' ').filter((f) => f !== '');
const SETTLE_S = Number(arg('--settle') ?? 35);
const RUNS = Number(arg('--runs') ?? 3);

/** VmRSS and VmHWM of `pid`, MiB. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

function untilOutput(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new Error(`${what}: no ${pattern} in 30 s:\n${seen}`)),
      30_000,
    );
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${seen}`));
    });
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 5000).unref();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Starts `args`, waits for `ready`, lets it idle for SETTLE_S, returns its memory then; with
 * `readyOnly`, only the time to `ready` (for a process that ends there).
 */
async function idle(
  what: string,
  args: readonly string[],
  ready: RegExp,
  readyOnly = false,
): Promise<{ rss: number; peak: number; readyMs: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await untilOutput(child, ready, what);
    const readyMs = performance.now() - started;
    if (readyOnly) return { rss: 0, peak: 0, readyMs };
    child.stdout?.resume();
    child.stderr?.resume();
    await sleep(SETTLE_S * 1000);
    return { ...memoryOf(child.pid!), readyMs };
  } finally {
    await stop(child);
  }
}

const REFERENCE = `
import { connect } from '@nats-io/transport-node';
const nc = await connect({ servers: process.argv[1] });
nc.subscribe('bench.idle');
await nc.flush();
console.log('connected');
setInterval(() => {}, 1 << 30);
`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] as number;
};

async function main(): Promise<void> {
  const broker = await startNatsServer();
  const dir = await mkdtemp(join(tmpdir(), 'admiral-bench-idle-'));
  const rows: Record<string, { rss: number[]; peak: number[]; readyMs: number[] }> = {};
  const record = (name: string, r: { rss: number; peak: number; readyMs: number }): void => {
    const row = (rows[name] ??= { rss: [], peak: [], readyMs: [] });
    row.rss.push(r.rss);
    row.peak.push(r.peak);
    row.readyMs.push(r.readyMs);
    console.log(
      `  ${name}: RSS ${r.rss.toFixed(1)} MiB, peak ${r.peak.toFixed(1)} MiB, ready ${r.readyMs.toFixed(0)} ms`,
    );
  };
  try {
    for (let run = 0; run < RUNS; run++) {
      // The reference runs from the bench's folder, so that it finds nats.js as admiral does.
      record(
        'reference: node + one NATS connection',
        await idle('reference', ['--input-type=module', '-e', REFERENCE, broker.url], /connected/),
      );
      record(
        'admiral node start (idle)',
        await idle(
          'node start',
          [
            ...NODE_FLAGS,
            CLI,
            'node',
            'start',
            '--name',
            `idle${run}`,
            '--data-dir',
            join(dir, `node${run}`),
            '--broker',
            broker.url,
          ],
          /node \S+ is up/,
        ),
      );
      record(
        'admiral up (idle)',
        await idle(
          'up',
          [
            ...NODE_FLAGS,
            CLI,
            'up',
            '--broker-port',
            '0',
            '--http-listen',
            '127.0.0.1:0',
            '--data-dir',
            join(dir, `up${run}`),
          ],
          /admiral is up[\s\S]*data dir:/,
        ),
      );
      record(
        'node -e "" (start-up floor)',
        await idle('node -e', ['-e', 'console.log("up")'], /up/, true),
      );
    }
  } finally {
    await broker.stop();
    await rm(dir, { recursive: true, force: true });
  }
  const ref = median(rows['reference: node + one NATS connection']!.rss);
  console.log(
    `\nmedian of ${RUNS}, after ${SETTLE_S} s idle, on ${broker.name}, ${[...NODE_FLAGS, CLI].join(' ')}; ratio = reference RSS / RSS\n`,
  );
  console.log('| process | RSS (MiB) | peak (MiB) | ratio | ready (ms) |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  for (const [name, r] of Object.entries(rows)) {
    const rss = median(r.rss);
    const floor = name.startsWith('node -e');
    console.log(
      `| ${name} | ${floor ? '—' : rss.toFixed(1)} | ${floor ? '—' : median(r.peak).toFixed(1)} | ${floor ? '—' : (ref / rss).toFixed(2)} | ${median(r.readyMs).toFixed(0)} |`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
