// bench/copy: REQCopyFileFrom of one file between two node processes (ship1 → ship2, through the
// broker of `admiral up`), against `cp` of the same file on the same disk in the same run.
// Prints both throughputs, their ratio, the peak memory (VmHWM from /proc) of every node process,
// and whether the SHA-256 of the copy matches.
//   node dist/bench/copy/main.js [--size 1GiB] [--keep] [--profile DIR (a .cpuprofile per process)]

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalOutbox, submitToSocket } from '../../src/cli/system.js';
import { loadIdentity } from '../../src/protocol/signing.js';
import { FileTrustStore } from '../../src/protocol/trust.js';
import { CLI_BUNDLE } from '../../src/layout.js';

const CLI = CLI_BUNDLE;
const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/.exec(text.trim());
  if (!m) throw new Error(`Expected --size like 1GiB, 256MiB or a number of bytes, got "${text}"`);
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'B']!);
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  output(): string;
}

function start(name: string, args: string[], ready: RegExp, cwd: string): Promise<Proc> {
  const profile = flag('--profile');
  const nodeArgs = profile ? ['--cpu-prof', '--cpu-prof-dir', profile] : [];
  const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ADMIRAL_CENTRAL__DISCOVERY__PORT: '0' },
  });
  let text = '';
  const proc: Proc = { name, child, output: () => text };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${text}`)), 30_000);
    const check = (d: Buffer): void => {
      text += d.toString();
      if (ready.test(text)) {
        clearTimeout(timer);
        resolve(proc);
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${text}`));
    });
  });
}

async function stopAll(procs: readonly Proc[]): Promise<void> {
  for (const p of [...procs].reverse()) {
    if (p.child.exitCode !== null) continue;
    const gone = new Promise((r) => p.child.once('exit', r));
    p.child.kill('SIGTERM');
    const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
}

/** CPU time (user, system) a process has used so far, in seconds (/proc/<pid>/stat). */
function cpuSeconds(pid: number | undefined): [number, number] {
  if (pid === undefined) return [Number.NaN, Number.NaN];
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]) / 100, Number(fields[12]) / 100]; // utime, stime in ticks (USER_HZ 100)
}

/** Peak resident memory of a process so far (VmHWM), in bytes. */
function peakRss(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

async function fileSha(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    h.update(chunk as Buffer);
  }
  return h.digest('hex');
}

async function writeRandom(path: string, size: number): Promise<void> {
  const handle = await open(path, 'w');
  try {
    const block = 8 * 1024 * 1024;
    for (let done = 0; done < size; done += block) {
      await handle.write(randomBytes(Math.min(block, size - done)));
    }
  } finally {
    await handle.close();
  }
}

const mib = (bytes: number): string => (bytes / 1024 ** 2).toFixed(1);

async function main(): Promise<void> {
  const size = parseSize(flag('--size') ?? '1GiB');
  const dir = await mkdtemp(join(tmpdir(), 'admiral-bench-copy-'));
  const procs: Proc[] = [];
  try {
    const centralDir = join(dir, 'admiral-data');
    const central = await start(
      'central',
      ['up', '--broker-port', '0', '--data-dir', centralDir],
      /admiral is up[\s\S]*data dir:/,
      dir,
    );
    procs.push(central);
    const broker = /broker:\s+(nats:\/\/\S+)/.exec(central.output())?.[1];
    if (!broker) throw new Error(`no broker URL in:\n${central.output()}`);
    const node = async (name: string): Promise<Proc> => {
      const p = await start(
        name,
        ['node', 'start', '--name', name, '--data-dir', join(dir, name), '--broker', broker],
        /node \S+ is up/,
        dir,
      );
      procs.push(p);
      return p;
    };
    await node('ship1');
    await node('ship2');
    // ship2 takes file writes only from signers it trusts (REQCopyFileTo is privileged).
    const key = (await loadIdentity(join(dir, 'ship1', 'identity.seed'))).publicKey;
    new FileTrustStore(join(dir, 'ship2', 'trust.json')).add(key, 'ship1 (bench)');

    const source = join(dir, 'ship1', 'source.bin');
    process.stdout.write(`writing ${mib(size)} MiB of random data … `);
    await writeRandom(source, size);
    const sourceSha = await fileSha(source); // also leaves the file in the page cache for both runs
    process.stdout.write('done\n');

    const cpTarget = join(dir, 'cp-copy.bin');
    const cpStart = process.hrtime.bigint();
    const cp = spawnSync('cp', [source, cpTarget]);
    if (cp.status !== 0) throw new Error(`cp failed: ${cp.stderr.toString()}`);
    spawnSync('sync', ['-f', cpTarget]);
    const cpSeconds = Number(process.hrtime.bigint() - cpStart) / 1e9;
    await rm(cpTarget);

    const cpuBefore = procs.map((p) => cpuSeconds(p.child.pid));
    const copyStart = process.hrtime.bigint();
    const submitted = await submitToSocket(
      centralDir,
      Buffer.from(
        JSON.stringify({
          toNode: 'ship1',
          method: 'REQCopyFileFrom',
          methodArgs: ['source.bin', 'ship2', '/bench/copy.bin'],
          replyMethod: 'REQNone',
          methodTimeout: 3600,
        }),
      ),
    );
    const id = submitted.accepted[0];
    if (!id) throw new Error(`copy refused: ${JSON.stringify(submitted.rejected)}`);
    const { outbox, close } = openLocalOutbox(centralDir);
    let state = 'pending';
    let error: string | null = null;
    let phases = '';
    try {
      for (;;) {
        const rec = outbox.get(id);
        if (rec && rec.state !== 'pending' && rec.state !== 'delivered') {
          state = rec.state;
          error = rec.error;
          phases = /open \+ stream \+ commit: ([^)]*)/.exec(JSON.stringify(rec.result))?.[1] ?? '';
          break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      close();
    }
    const copySeconds = Number(process.hrtime.bigint() - copyStart) / 1e9;
    const peaks = procs.map((p, i) => ({
      name: p.name,
      bytes: peakRss(p.child.pid),
      cpu: cpuSeconds(p.child.pid).map((v, j) => v - (cpuBefore[i]?.[j] ?? 0)),
    }));
    const target = join(dir, 'ship2', 'bench', 'copy.bin');
    const copied = state === 'completed' ? await stat(target).catch(() => undefined) : undefined;
    const match = copied !== undefined && (await fileSha(target)) === sourceSha;

    const cpRate = size / 1024 ** 2 / cpSeconds;
    const copyRate = size / 1024 ** 2 / copySeconds;
    console.log(`size                 ${mib(size)} MiB`);
    console.log(`cp (+ sync)          ${cpSeconds.toFixed(2)} s   ${cpRate.toFixed(1)} MiB/s`);
    console.log(
      `REQCopyFileFrom      ${copySeconds.toFixed(2)} s   ${copyRate.toFixed(1)} MiB/s   (${state}${error ? `: ${error}` : ''})`,
    );
    console.log(`  open + stream + commit (seen by the source): ${phases}`);
    console.log(`ratio admiral / cp   ${(copyRate / cpRate).toFixed(3)}`);
    for (const p of peaks) {
      console.log(
        `peak RSS ${p.name.padEnd(11)} ${mib(p.bytes)} MiB   (CPU during the copy: user ${p.cpu[0]?.toFixed(2)} s, system ${p.cpu[1]?.toFixed(2)} s)`,
      );
    }
    console.log(`sha256 match         ${match ? 'yes' : 'NO'}  (${sourceSha})`);
    if (!match) process.exitCode = 1;
  } finally {
    await stopAll(procs);
    if (!process.argv.includes('--keep')) await rm(dir, { recursive: true, force: true });
    else console.log(`kept ${dir}`);
  }
}

await main();
