// bench/messaging: durable commands per second end to end (submit → outbox → ACK after the
// target's inbox commit → run → reply through the target's outbox → completed at the sender),
// from one node to another over the embedded broker, against the same payloads sent as plain
// NATS requests over the same broker to a responder that answers at once (and, for a command, to
// one that runs the command before it answers). Prints the figures and the ratios durable / plain
// (goal ≥ 0.5).
//   node dist/bench/messaging/main.js [--count N] [--quick]
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Msg } from '@nats-io/transport-node';
import { Broker } from '../../src/broker/index.js';
import type { AdmiralNode } from '../../src/node/node.js';
import { startInProcessNode } from '../../test/helpers/in-process.js';

const argCount = process.argv.indexOf('--count');
const quick = process.argv.includes('--quick');
const COUNT = argCount > 0 ? Number(process.argv[argCount + 1]) : quick ? 500 : 3000;
/** Requests in flight at once in the reference, as the publisher's default maxInFlight. */
const IN_FLIGHT = 256;
/** Commands a node's executor runs at once (from-config.ts). */
const EXECUTOR_CONCURRENCY = 64;

/** Durable round trips: submit `count` messages, wait until all are completed at the sender. */
async function durable(
  from: AdmiralNode,
  message: Record<string, unknown>,
  count: number,
): Promise<number> {
  const before = from.store.outbox.counts().completed;
  const started = performance.now();
  const batch = 100;
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    const r = from.submit(JSON.stringify(Array.from({ length: n }, () => message)), 'bench');
    if (r.rejected.length > 0) throw new Error(JSON.stringify(r.rejected));
    // Let the publisher run between batches, as separate submissions would.
    await new Promise((res) => setImmediate(res));
  }
  for (;;) {
    const c = from.store.outbox.counts();
    if (c.completed - before >= count) break;
    const bad = c.failed + c.expired + c.rejected + c.interrupted;
    if (bad > 0) throw new Error(`messages ended badly: ${JSON.stringify(c)}`);
    // Counting is a GROUP BY over the outbox: poll gently so the check does not cost the run.
    await new Promise((res) => setTimeout(res, 50));
  }
  return count / ((performance.now() - started) / 1000);
}

/**
 * The reference: the same bytes as plain NATS requests, IN_FLIGHT at a time, answered at once, or,
 * with `argv`, once the responder has run that command (`execFile`, at most as many at once as a
 * node's executor runs, and its output in the answer): a command sent as a plain NATS request.
 */
async function plain(
  url: string,
  payload: Uint8Array,
  count: number,
  argv?: readonly string[],
): Promise<number> {
  const responder = await connect({ servers: url });
  const requester = await connect({ servers: url });
  let running = 0;
  const queued: Msg[] = [];
  const runOne = (m: Msg): void => {
    running++;
    execFile(argv![0]!, argv!.slice(1), (error, stdout) => {
      running--;
      m.respond(JSON.stringify({ exitCode: error ? 1 : 0, stdout }));
      const next = queued.shift();
      if (next !== undefined) runOne(next);
    });
  };
  responder.subscribe('bench.plain', {
    callback: (_e, m) => {
      if (argv === undefined) m.respond(payload.subarray(0, 64));
      else if (running < EXECUTOR_CONCURRENCY) runOne(m);
      else queued.push(m);
    },
  });
  await responder.flush();
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      await requester.request('bench.plain', payload, { timeout: 10_000 });
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const rate = count / ((performance.now() - started) / 1000);
  await requester.close();
  await responder.close();
  return rate;
}

/**
 * The durable path's exchanges without durability: a request the receiver answers at once (its
 * ACK), then the receiver's reply as a request of its own that the sender answers (the reply's
 * ACK). Two request/reply exchanges per round trip, as a durable message has, with no store, no
 * signature and no schema: what a durable round trip would cost if durability were free.
 */
async function plainTwoExchanges(url: string, payload: Uint8Array, count: number): Promise<number> {
  const receiver = await connect({ servers: url });
  const sender = await connect({ servers: url });
  const ack = payload.subarray(0, 64);
  receiver.subscribe('bench.plain2', {
    callback: (_e, m) => {
      m.respond(ack);
      void receiver.request('bench.back', m.data, { timeout: 10_000 });
    },
  });
  const answered = new Map<number, () => void>();
  sender.subscribe('bench.back', {
    callback: (_e, m) => {
      m.respond(ack);
      const id = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).readUInt32BE(0);
      answered.get(id)?.();
      answered.delete(id);
    },
  });
  await receiver.flush();
  await sender.flush();
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const id = next++;
      const data = Buffer.from(payload);
      data.writeUInt32BE(id, 0);
      const back = new Promise<void>((resolve) => answered.set(id, resolve));
      await sender.request('bench.plain2', data, { timeout: 10_000 });
      await back;
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const rate = count / ((performance.now() - started) / 1000);
  await sender.close();
  await receiver.close();
  return rate;
}

/** CPU ms (user + system) so far: this process; process `helper` (from /proc); what `helper` reaped. */
interface CpuSample {
  readonly self: number;
  readonly helper: number;
  readonly commands: number;
}

/** The spawner helper among this process's children (Linux /proc), if it runs. */
function helperPid(): number | undefined {
  try {
    const kids = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8');
    return kids
      .trim()
      .split(/\s+/)
      .map(Number)
      .find((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('spawner-child');
        } catch {
          return false;
        }
      });
  } catch {
    return undefined;
  }
}

function cpuSample(helper: number | undefined): CpuSample {
  const own = process.cpuUsage();
  let fields: number[] = [];
  try {
    const stat = readFileSync(`/proc/${helper}/stat`, 'utf8');
    fields = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
  } catch {
    // no helper, or no /proc
  }
  const tick = 10; // ms per clock tick (USER_HZ 100)
  // proc(5): utime, stime, cutime, cstime are fields 14-17, the 12th-15th after the name.
  return {
    self: (own.user + own.system) / 1000,
    helper: ((fields[11] ?? 0) + (fields[12] ?? 0)) * tick,
    commands: ((fields[13] ?? 0) + (fields[14] ?? 0)) * tick,
  };
}

const dir = await mkdtemp(join(tmpdir(), 'admiral-bench-messaging-'));
const broker = await Broker.start({ host: '127.0.0.1', port: 0 });
const a = await startInProcessNode('a', dir, broker.url);
const b = await startInProcessNode('b', dir, broker.url);
b.trust.add(a.identity.publicKey, 'a');
try {
  const cases = [
    { name: 'REQPing', message: { toNode: 'b', method: 'REQPing', replyMethod: 'REQNone' } },
    {
      name: 'REQCliCommand true',
      message: {
        toNode: 'b',
        method: 'REQCliCommand',
        methodArgs: ['true'],
        replyMethod: 'REQNone',
      },
    },
  ];
  // Warm up both paths (JIT, SQLite caches, connections).
  await durable(a, cases[0]!.message, Math.min(200, COUNT));
  for (const c of cases) {
    const n = c.name === 'REQPing' ? COUNT : Math.max(100, Math.round(COUNT / 5));
    const id = a.submit(JSON.stringify(c.message), 'bench').accepted[0]!;
    const payload = a.store.outbox.get(id)!.envelope;
    const plainRate = await plain(broker.url, payload, n);
    const argv = (c.message as { methodArgs?: string[] }).methodArgs;
    const refBefore = cpuSample(process.pid);
    const runRate = argv === undefined ? undefined : await plain(broker.url, payload, n, argv);
    const refAfter = cpuSample(process.pid);
    const twoRate =
      argv === undefined ? await plainTwoExchanges(broker.url, payload, n) : undefined;
    const helper = argv === undefined ? undefined : helperPid();
    const cpuBefore = cpuSample(helper);
    const durableRate = await durable(a, c.message, n);
    const cpuAfter = cpuSample(helper);
    const rate = (x: number): string => `${x.toFixed(0).padStart(7)} msg/s`;
    process.stdout.write(
      `${c.name.padEnd(20)} durable ${rate(durableRate)}   plain NATS request ${rate(plainRate)}   ratio ${(durableRate / plainRate).toFixed(3)}   (n=${n}, ${payload.length} B)\n`,
    );
    if (twoRate !== undefined) {
      process.stdout.write(
        `${''.padEnd(20)} plain NATS, request and reply each answered (a durable message's two exchanges, nothing stored or signed) ${rate(twoRate)}   ratio ${(durableRate / twoRate).toFixed(3)}\n`,
      );
    }
    if (runRate !== undefined) {
      process.stdout.write(
        `${''.padEnd(20)} plain NATS request whose responder runs the command ${rate(runRate)}   ratio ${(durableRate / runRate).toFixed(3)}\n`,
      );
      const per = (k: keyof CpuSample): string => ((cpuAfter[k] - cpuBefore[k]) / n).toFixed(2);
      // Read for this process, `helper` is this process again and `commands` its reaped children.
      const ref = (refAfter.self - refBefore.self + refAfter.commands - refBefore.commands) / n;
      process.stdout.write(
        `${''.padEnd(20)} CPU per command, the reference: this process and the commands ${ref.toFixed(2)} ms\n`,
      );
      process.stdout.write(
        `${''.padEnd(20)} CPU per durable command: this process (both nodes, the broker) ${per('self')} ms, spawner helper ${helper === undefined ? '(not found)' : `${per('helper')} ms`}, the commands ${per('commands')} ms\n`,
      );
    }
  }
} finally {
  await a.close();
  await b.close();
  await broker.close();
  await rm(dir, { recursive: true, force: true });
}
