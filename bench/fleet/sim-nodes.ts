// A process hosting many simulated nodes ("AdmiralNode-lite") for bench/fleet: each has its own
// broker connection, says hello with facts (so the central's inventory knows it), answers
// `adm.ping` exactly as a real node does (the same responder) and `adm.key.<node>` (the plain
// request the raw fan-out floor uses). Nothing else: no store, no outbox.
//   node sim-nodes.js '{"url":"nats://…","prefix":"sim","from":0,"count":1250}'
import { createHash } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startPingResponder } from '../../src/fleet/ping.js';
import { RequestMux } from '../../src/node/request-mux.js';
import {
  createReply,
  decodeEnvelope,
  encodeAck,
  encodeEnvelope,
  identityFromRawSeed,
  type Message,
  Subjects,
  signEvent,
  signMessage,
} from '../../src/protocol/index.js';

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
  // Each node's key is made from its name: the same name has the same key in every round, as
  // central (which pins a node's key on first contact) expects of a real node.
  const identity = identityFromRawSeed(createHash('sha256').update(`bench ${node}`).digest());
  const nc = await connect({ servers: spec.url, name: `sim:${node}`, maxReconnectAttempts: -1 });
  conns.push(nc);
  const facts = { node, os: 'Linux', cpus: 2 + (i % 8), tags: [i % 2 === 0 ? 'even' : 'odd'] };
  startPingResponder(nc, subjects, node, () => facts);
  // Replies go out as a node's publisher sends them: over one muxed inbox subscription.
  const mux = new RequestMux(nc);
  // Events are signed by the node's key: central takes them only so.
  const body = {
    node,
    publicKey: identity.publicKey,
    central: false,
    version: 'sim',
    at: Date.now(),
    facts,
    helloIntervalMs: 0,
  };
  const hello = subjects.event(node, 'hello');
  const event = JSON.stringify(signEvent(hello, body, identity));
  const keyAnswer = JSON.stringify(signEvent(subjects.key(node), body, identity));
  nc.subscribe(subjects.key(node), { callback: (_e, m) => void m.respond(keyAnswer) });
  // A durable REQCliCommand (admiral run): ACK it as stored, then send the signed reply (as if the
  // command ran and exited 0) to the sender, which ACKs it in turn. No store, no process spawned;
  // the signature is not checked here (a real node does both).
  nc.subscribe(subjects.node(node, 'REQCliCommand'), {
    callback: (_e, m) => {
      let msg: Message;
      try {
        msg = decodeEnvelope(m.data).msg;
      } catch {
        return;
      }
      m.respond(encodeAck({ ack: msg.id, status: 'stored' }));
      const reply: Message = {
        ...createReply(msg, { fromNode: node, data: [''] }),
        method: msg.replyMethod ?? 'REQNone',
        status: 'ok',
        exitCode: 0,
      };
      const bytes = encodeEnvelope(signMessage(reply, identity), 'none');
      void mux.request(subjects.node(msg.fromNode, reply.method), bytes, 10_000);
    },
  });
  await nc.flush();
  nc.publish(hello, event);
  hellos.set(node, () => nc.publish(hello, event));
}
/** Each node's hello, sent again when the bench finds it missing from the inventory. */
const hellos = new Map<string, () => void>();

// Connect in small batches: thousands of simultaneous handshakes only queue up in the broker.
for (let i = spec.from; i < spec.from + spec.count; i += 50) {
  const batch = [];
  for (let j = i; j < Math.min(i + 50, spec.from + spec.count); j++) batch.push(startOne(j));
  await Promise.all(batch);
}
process.send?.({ type: 'ready' });
process.on('message', async (m: { type?: string; names?: string[] }) => {
  if (m.type === 'hello') {
    for (const name of m.names ?? []) hellos.get(name)?.();
    return;
  }
  for (const nc of conns) await nc.close();
  process.exit(0);
});
