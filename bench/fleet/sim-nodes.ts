// A process hosting many simulated nodes ("AdmiralNode-lite") for bench/fleet: each has its own
// broker connection, says hello with facts (so the central's inventory knows it), answers
// `adm.ping` exactly as a real node does (the same responder) and `adm.key.<node>` (the plain
// request the raw fan-out floor uses). Nothing else: no store, no outbox.
//   node sim-nodes.js '{"url":"nats://…","prefix":"sim","from":0,"count":1250}'
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startPingResponder } from '../../src/fleet/ping.js';
import { Subjects } from '../../src/protocol/index.js';

interface Spec {
  readonly url: string;
  readonly prefix: string;
  readonly from: number;
  readonly count: number;
}

const spec = JSON.parse(process.argv[2] ?? '{}') as Spec;
const subjects = new Subjects();
const conns: NatsConnection[] = [];

async function startOne(i: number): Promise<void> {
  const node = `${spec.prefix}${i}`;
  const nc = await connect({ servers: spec.url, name: `sim:${node}`, maxReconnectAttempts: -1 });
  conns.push(nc);
  const facts = { node, os: 'Linux', cpus: 2 + (i % 8), tags: [i % 2 === 0 ? 'even' : 'odd'] };
  startPingResponder(nc, subjects, node, () => facts);
  const event = JSON.stringify({
    node,
    publicKey: 'sim',
    central: false,
    version: 'sim',
    at: Date.now(),
    facts,
    helloIntervalMs: 0,
  });
  nc.subscribe(subjects.key(node), { callback: (_e, m) => void m.respond(event) });
  await nc.flush();
  nc.publish(subjects.event(node, 'hello'), event);
}

// Connect in small batches: thousands of simultaneous handshakes only queue up in the broker.
for (let i = spec.from; i < spec.from + spec.count; i += 50) {
  const batch = [];
  for (let j = i; j < Math.min(i + 50, spec.from + spec.count); j++) batch.push(startOne(j));
  await Promise.all(batch);
}
process.send?.({ type: 'ready' });
process.on('message', async () => {
  for (const nc of conns) await nc.close();
  process.exit(0);
});
