import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { AdmiralNode } from '../../src/node/node.js';
import {
  createReply,
  decodeAck,
  decodeEnvelope,
  encodeEnvelope,
  generateIdentity,
  type Identity,
  loadIdentity,
  newMessageId,
  type Message,
  Subjects,
  signMessage,
} from '../../src/protocol/index.js';
import { BROKER_KINDS, type BrokerKind, startBroker } from '../conformance/brokers.js';
import { startInProcessNode, until } from '../helpers/in-process.js';

// The node → origin trust boundary (docs/security.md, "Threat model"): what a reply does on the
// node that sent the request comes from the request that node stored, and a reply, event or error
// line is taken only from the key known for the node it claims to come from. Each attack runs on
// the embedded broker and on nats-server, as an attacker on the broker would try it.

const subjects = new Subjects();

interface Setup {
  dir: string;
  url: string;
  a: AdmiralNode;
  attacker: NatsConnection;
}

async function setup(t: TestContext, kind: BrokerKind): Promise<Setup | undefined> {
  const broker = await startBroker(t, kind);
  if (broker === undefined) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'admiral-reply-trust-'));
  const a = await startInProcessNode('a', dir, broker.url);
  const attacker = await connect({ servers: broker.url });
  t.after(async () => {
    await attacker.close();
    await a.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, url: broker.url, a, attacker };
}

/** The message `id` as the origin signed and stored it. */
function stored(node: AdmiralNode, id: string): Message {
  const row = node.store.outbox.get(id);
  assert.ok(row, `message ${id} is in ${node.options.name}'s outbox`);
  return decodeEnvelope(row.envelope).msg;
}

/** Sends a reply signed by `identity` to the origin, as a node answering a request would. */
async function sendReply(
  nc: NatsConnection,
  reply: Message,
  identity: Identity,
): Promise<ReturnType<typeof decodeAck>> {
  const res = await nc.request(
    subjects.node(reply.toNode ?? '', reply.method),
    encodeEnvelope(signMessage(reply, identity)),
    { timeout: 5000 },
  );
  return decodeAck(res.data);
}

function submitOne(node: AdmiralNode, message: Record<string, unknown>): string {
  const r = node.submit(JSON.stringify([message]));
  assert.deepEqual(r.rejected, [], JSON.stringify(r.rejected));
  return r.accepted[0] as string;
}

for (const kind of BROKER_KINDS) {
  test(`[${kind}] a reply that names its own directory and file writes where the request said, not there`, async (t) => {
    const s = await setup(t, kind);
    if (s === undefined) return;
    // Node b is compromised: the attacker holds its key and answers a's request to it.
    const b = generateIdentity();
    const cases = [
      { directory: 'extensions', fileName: 'pwn.mjs' },
      { directory: '.', fileName: 'trust.json' },
      { directory: '/', fileName: 'config.yaml' },
    ];
    for (const [i, evil] of cases.entries()) {
      const id = submitOne(s.a, {
        toNode: 'b',
        method: 'REQCliCommand',
        methodArgs: ['true'],
        replyMethod: 'REQToFile',
        directory: 'results',
        fileName: `out-${i}.txt`,
      });
      const reply: Message = {
        ...createReply(stored(s.a, id), { fromNode: 'b', data: ['export default 1;\n'] }),
        ...evil,
      };
      await sendReply(s.attacker, reply, b);
      await until('the request to complete', () => s.a.store.outbox.get(id)?.state === 'completed');
      await until('the reply to be handled', () => s.a.store.inbox.get(reply.id)?.state === 'done');
      const written = join(s.dir, 'a', evil.directory, evil.fileName);
      assert.equal(existsSync(written), false, `${written} was written by a reply`);
      assert.equal(
        await readFile(join(s.dir, 'a', 'results', `out-${i}.txt`), 'utf8'),
        'export default 1;\n',
        "the reply's data lands where the request named",
      );
    }
  });

  test(`[${kind}] a reply method never writes into the node's own state, even when the request names it`, async (t) => {
    const s = await setup(t, kind);
    if (s === undefined) return;
    const b = await startInProcessNode('b', s.dir, s.url);
    t.after(() => b.close());
    b.trust.add(s.a.identity.publicKey, 'a');
    const targets = [
      { directory: 'extensions', fileName: 'pwn.mjs' },
      { directory: '', fileName: 'trust.json' },
      { directory: '/', fileName: 'identity.seed' },
      { directory: 'results/../', fileName: 'admiral.db' },
    ];
    const handled = (): { result: string }[] =>
      s.a.store.database.db
        .prepare("SELECT result FROM inbox WHERE method = 'REQToFile' AND state = 'done'")
        .all() as { result: string }[];
    for (const [i, target] of targets.entries()) {
      const id = submitOne(s.a, {
        toNode: 'b',
        method: 'REQCliCommand',
        methodArgs: ['echo', '{"version":1,"keys":[]}'],
        replyMethod: 'REQToFile',
        ...target,
      });
      await until('the request to complete', () => s.a.store.outbox.get(id)?.state === 'completed');
      await until('the reply to be handled', () => handled().length > i);
    }
    assert.equal(existsSync(join(s.dir, 'a', 'extensions', 'pwn.mjs')), false);
    assert.equal(existsSync(join(s.dir, 'a', 'trust.json')), false, 'trust.json was written');
    const seed = await readFile(join(s.dir, 'a', 'identity.seed'), 'utf8');
    assert.match(seed, /^SU/, 'identity.seed still holds the seed');
    const errors = handled().map((r) => String((JSON.parse(r.result) as { error?: string }).error));
    assert.equal(errors.length, 4);
    for (const e of errors) assert.match(e, /admiral's own state/);
  });

  test(`[${kind}] a reply claiming to come from another node is rejected and the real answer completes the request`, async (t) => {
    const s = await setup(t, kind);
    if (s === undefined) return;
    const b = await startInProcessNode('b', s.dir, s.url);
    t.after(() => b.close());
    b.trust.add(s.a.identity.publicKey, 'a');
    // First contact: a learns b's key from b's own answer.
    const ping = submitOne(s.a, { toNode: 'b', method: 'REQPing', replyMethod: 'REQNone' });
    await until('the ping', () => s.a.store.outbox.get(ping)?.state === 'completed');

    // Another key (any local process on the broker, or node c) sniffs b's subject and answers first.
    const mallory = generateIdentity();
    const acks: ReturnType<typeof decodeAck>[] = [];
    const sniff = s.attacker.subscribe(subjects.nodeSubscription('b'), {
      callback: (_err, m) => {
        const request = decodeEnvelope(m.data).msg;
        const forged = createReply(request, {
          fromNode: 'b',
          data: ['forged\n'],
          status: 'ok',
          exitCode: 0,
        });
        void sendReply(s.attacker, forged, mallory).then((ack) => acks.push(ack));
      },
    });
    t.after(() => sniff.unsubscribe());
    await s.attacker.flush();
    const id = submitOne(s.a, {
      toNode: 'b',
      method: 'REQCliCommand',
      methodArgs: ['sh', '-c', 'sleep 0.5; echo real'],
      replyMethod: 'REQNone',
    });
    await until('the forged reply to be answered', () => acks.length > 0);
    assert.equal(acks[0]?.status, 'rejected');
    assert.match(acks[0]?.error ?? '', /signed by .* but b's key is/);
    await until('the request to complete', () => s.a.store.outbox.get(id)?.state === 'completed');
    assert.equal((s.a.store.outbox.get(id)?.result as { output?: string }).output, 'real\n');
  });

  test(`[${kind}] a reply must name the reply method, replyMethodArgs and sender its request named, also for an outbox row from before they were recorded`, async (t) => {
    const s = await setup(t, kind);
    if (s === undefined) return;
    // Nobody runs b: the attacker answers as b, with b's key (pinned by a on first contact) and
    // as c with c's.
    const bKey = generateIdentity();
    const cKey = generateIdentity();
    const id = submitOne(s.a, {
      toNode: 'b',
      method: 'REQPing',
      replyMethod: 'REQNone',
      replyMethodArgs: ['expected'],
    });
    const request = stored(s.a, id);
    const reply = (over: Partial<Message>): Message => ({
      ...createReply(request, { fromNode: 'b', data: ['pong'], status: 'ok' }),
      method: 'REQNone',
      methodArgs: ['expected'],
      ...over,
    });
    const attacks = async (): Promise<void> => {
      const otherMethod = await sendReply(
        s.attacker,
        reply({ method: 'REQCliCommand', methodArgs: ['sh', '-c', 'touch pwned'] }),
        bKey,
      );
      assert.equal(otherMethod.status, 'rejected');
      assert.match(
        otherMethod.error ?? '',
        /asks for REQCliCommand, but the request named replyMethod REQNone/,
      );
      const otherArgs = await sendReply(s.attacker, reply({ methodArgs: ['other'] }), bKey);
      assert.equal(otherArgs.status, 'rejected');
      assert.match(
        otherArgs.error ?? '',
        /carries methodArgs other than the request's replyMethodArgs/,
      );
      const unknown = await sendReply(s.attacker, reply({ inReplyTo: newMessageId() }), bKey);
      assert.equal(unknown.status, 'rejected');
      assert.match(unknown.error ?? '', /reply to unknown message/);
      const fromC = await sendReply(s.attacker, reply({ fromNode: 'c' }), cKey);
      assert.equal(fromC.status, 'rejected');
      assert.match(fromC.error ?? '', new RegExp(`came from c, but that message was sent to b`));
    };
    await attacks();
    // A row written before the outbox recorded the expected reply: checked from its envelope.
    s.a.store.database.db
      .prepare('UPDATE outbox SET reply_method = NULL, reply_args = NULL WHERE id = ?')
      .run(id);
    await attacks();
    assert.equal(s.a.store.outbox.get(id)?.state, 'pending');
    const genuine = await sendReply(s.attacker, reply({}), bKey);
    assert.equal(genuine.status, 'stored', genuine.error);
    await until('the request to complete', () => s.a.store.outbox.get(id)?.state === 'completed');
    assert.equal(existsSync(join(s.dir, 'a', 'pwned')), false);
  });

  test(`[${kind}] a message from a node is taken only with the key first seen for that node`, async (t) => {
    const s = await setup(t, kind);
    if (s === undefined) return;
    const b = await startInProcessNode('b', s.dir, s.url);
    t.after(() => b.close());
    b.trust.add(s.a.identity.publicKey, 'a');
    const ping = submitOne(b, { toNode: 'a', method: 'REQPing', replyMethod: 'REQNone' });
    await until('the ping', () => b.store.outbox.get(ping)?.state === 'completed');
    const real = await loadIdentity(join(s.dir, 'b', 'identity.seed'));
    const mallory = generateIdentity();
    const now = Date.now();
    const line = (id: string): Message => ({
      id,
      fromNode: 'b',
      toNode: 'a',
      method: 'REQErrorLog',
      data: ['{"reason":"forged"}'],
      createdAt: now,
      expiresAt: now + 60_000,
    });

    const forged = await sendReply(s.attacker, line(newMessageId()), mallory);
    assert.equal(forged.status, 'rejected');
    assert.match(forged.error ?? '', new RegExp(`b's key is ${real.publicKey}`));
    const genuine = await sendReply(s.attacker, line(newMessageId()), real);
    assert.equal(genuine.status, 'stored', genuine.error);
  });
}

for (const kind of BROKER_KINDS) {
  test(`[${kind}] an unsigned envelope is answered rejected and reported to the error log`, async (t) => {
    const s = await setup(t, kind);
    if (s === undefined) return;
    const now = Date.now();
    const msg: Message = {
      id: newMessageId(now),
      fromNode: 'b',
      toNode: 'a',
      method: 'REQPing',
      createdAt: now,
      expiresAt: now + 60_000,
    };
    const res = await s.attacker.request(
      subjects.node('a', 'REQPing'),
      JSON.stringify({ v: 1, msg }),
      { timeout: 5000 },
    );
    const ack = decodeAck(res.data);
    assert.equal(ack.ack, msg.id);
    assert.equal(ack.status, 'rejected');
    assert.match(ack.error ?? '', /invalid envelope/);
    await until('an error line for the central', () =>
      s.a.store.outbox
        .list()
        .some(
          (r) =>
            r.method === 'REQErrorLog' &&
            decodeEnvelope(r.envelope).msg.data?.join('').includes(msg.id) === true,
        ),
    );
  });
}
