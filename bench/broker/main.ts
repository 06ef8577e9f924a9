// bench/broker: the same load against admiral's embedded broker and nats-server in one run,
// printing each figure and the ratio embedded / nats-server. Clients run in separate processes.
//   node dist/bench/broker/main.js [--quick]
import { fileURLToPath } from 'node:url';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrokerProcess, startEmbedded, startNatsServer } from '../lib/brokers.js';
import { startWorker, type Worker } from '../lib/workers.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));
const quick = process.argv.includes('--quick');
const scale = quick ? 0.1 : 1;

interface Figure {
  readonly name: string;
  readonly unit: string;
  /** Whether a larger figure is better (throughput) or smaller (time, memory). */
  readonly higherIsBetter: boolean;
  readonly value: number;
}

async function runAll(workers: Worker[], stopAfter?: Worker[]): Promise<void> {
  await Promise.all(workers.map((w) => w.ready));
  for (const w of workers) w.go();
  await Promise.all(workers.filter((w) => !stopAfter?.includes(w)).map((w) => w.done));
  for (const w of stopAfter ?? []) w.go();
  await Promise.all((stopAfter ?? []).map((w) => w.done));
}

async function pubSub(url: string): Promise<Figure> {
  const count = Math.round(200_000 * scale);
  const subs = [0, 1].map((i) =>
    startWorker(WORKER, { kind: 'sub', url, subject: `ps.${i}`, expect: count, connections: 1 }),
  );
  await Promise.all(subs.map((w) => w.ready));
  const pubs = [0, 1].map((i) =>
    startWorker(WORKER, { kind: 'pub', url, subject: `ps.${i}`, count, size: 16 }),
  );
  await runAll([...subs, ...pubs]);
  const reports = await Promise.all(subs.map((w) => w.done));
  const received = reports.reduce((a, r) => a + r.count, 0);
  const ms = Math.max(...reports.map((r) => r.elapsedMs));
  return {
    name: 'pub→sub, 16 B, 2 pub + 2 sub processes',
    unit: 'msgs/s',
    higherIsBetter: true,
    value: (received / ms) * 1000,
  };
}

async function fanOut(url: string): Promise<Figure> {
  const count = Math.round(50_000 * scale);
  const subs = [0, 1].map(() =>
    startWorker(WORKER, { kind: 'sub', url, subject: 'fan', expect: count, connections: 5 }),
  );
  await Promise.all(subs.map((w) => w.ready));
  const pub = startWorker(WORKER, { kind: 'pub', url, subject: 'fan', count, size: 16 });
  await runAll([...subs, pub]);
  const reports = await Promise.all(subs.map((w) => w.done));
  const received = reports.reduce((a, r) => a + r.count, 0);
  const ms = Math.max(...reports.map((r) => r.elapsedMs));
  return {
    name: '1→10 fan-out, 16 B',
    unit: 'deliveries/s',
    higherIsBetter: true,
    value: (received / ms) * 1000,
  };
}

async function requestReply(url: string): Promise<Figure> {
  const count = Math.round(5_000 * scale);
  const responder = startWorker(WORKER, { kind: 'responder', url, subject: 'rr' });
  await responder.ready;
  const reqs = [0, 1].map(() =>
    startWorker(WORKER, { kind: 'requester', url, subject: 'rr', count, size: 16 }),
  );
  await runAll([responder, ...reqs], [responder]);
  const reports = await Promise.all(reqs.map((w) => w.done));
  const done = reports.reduce((a, r) => a + r.count, 0);
  const ms = Math.max(...reports.map((r) => r.elapsedMs));
  return {
    name: 'request/reply, 2 sequential requesters',
    unit: 'round trips/s',
    higherIsBetter: true,
    value: (done / ms) * 1000,
  };
}

async function connections(broker: BrokerProcess): Promise<Figure[]> {
  const per = Math.round(500 * (quick ? 0.2 : 1));
  const rssBefore = broker.rss();
  const ws = [0, 1].map(() => startWorker(WORKER, { kind: 'conns', url: broker.url, count: per }));
  await Promise.all(ws.map((w) => w.ready));
  for (const w of ws) w.go();
  // Each worker says ready a second time once all its connections are open and have round-tripped.
  await Promise.all(
    ws.map((w) => new Promise<void>((res) => w.child.once('message', () => res()))),
  );
  const rss = broker.rss() - rssBefore;
  for (const w of ws) w.go();
  const reports = await Promise.all(ws.map((w) => w.done));
  const ms = Math.max(...reports.map((r) => r.elapsedMs));
  return [
    {
      name: `${per * 2} concurrent connections: time to open`,
      unit: 'ms',
      higherIsBetter: false,
      value: ms,
    },
    {
      name: `${per * 2} concurrent connections: broker memory added`,
      unit: 'MiB',
      higherIsBetter: false,
      value: rss / 1048576,
    },
  ];
}

async function measure(start: () => Promise<BrokerProcess>): Promise<Figure[]> {
  const broker = await start();
  try {
    return [
      await pubSub(broker.url),
      await fanOut(broker.url),
      await requestReply(broker.url),
      ...(await connections(broker)),
    ];
  } finally {
    await broker.stop();
  }
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}

// Each figure is short and this machine is shared: run both brokers in alternation, several rounds,
// and report the median of each figure and of the per-round ratio.
const roundsArg = process.argv.indexOf('--rounds');
const rounds = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : quick ? 1 : 5;
// --features: both brokers also run the monitoring endpoint and a WebSocket listener.
const features = process.argv.includes('--features');
let extra: string[] = [];
if (features) {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-bench-broker-'));
  const conf = join(dir, 'features.conf');
  await writeFile(conf, 'http_port: -1\nwebsocket { port: -1, no_tls: true }\n');
  extra = ['-c', conf];
}
const natsRuns: Figure[][] = [];
const embeddedRuns: Figure[][] = [];
for (let r = 0; r < rounds; r++) {
  natsRuns.push(await measure(() => startNatsServer(extra)));
  embeddedRuns.push(await measure(() => startEmbedded(extra)));
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
console.log(
  `bench/broker${quick ? ' (quick)' : ''}${features ? ' with monitoring and WebSocket on' : ''}, median of ${rounds} round${rounds === 1 ? '' : 's'} — ratio = embedded / nats-server (inverted for time and memory, so > 1 is better)`,
);
console.log(['figure', 'unit', 'nats-server', 'embedded', 'ratio', 'ratio range'].join(' | '));
for (let i = 0; i < natsRuns[0]!.length; i++) {
  const a = natsRuns[0]![i]!;
  const ratios = natsRuns.map((run, r) => {
    const n = run[i]!.value;
    const e = embeddedRuns[r]![i]!.value;
    return a.higherIsBetter ? e / n : n / e;
  });
  console.log(
    [
      a.name,
      a.unit,
      fmt(median(natsRuns.map((run) => run[i]!.value))),
      fmt(median(embeddedRuns.map((run) => run[i]!.value))),
      median(ratios).toFixed(2),
      `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`,
    ].join(' | '),
  );
}
process.exit(0);
