import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import Database from 'better-sqlite3';
import {
  checkFreshness,
  decodeAck,
  encodeEnvelope,
  type Message,
  MessageExpiredError,
  newMessageId,
  Subjects,
  signMessage,
} from '../../src/protocol/index.js';
import { loadConfig } from '../../src/config/load.js';
import { Inbox } from '../../src/store/inbox.js';
import { startFleet } from '../helpers/fleet.js';
import { startInProcessNode, twoNodes, until } from '../helpers/in-process.js';

// Expired means never executed: a message whose time to live ran out before it started is not
// run, after a restart too, and both sides end `expired`; a time to live is capped, so an id is
// remembered (replay cache) exactly as long as the message could still be accepted.

const FINAL = ['completed', 'failed', 'rejected', 'expired', 'interrupted', 'cancelled'] as const;
const SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000;

/**
 * Nodes a and b; a sends b a command with a 1 s ttl (it would touch ran.marker), which b stores
 * and ACKs but does not run (as a node whose slots are all busy: its executor is stopped).
 */
async function markerStoredNotRun(t: TestContext) {
  const { dir, brokerUrl, a, b } = await twoNodes(t, 'admiral-expiry-');
  b.trust.add(a.identity.publicKey, 'a');
  b.executor.stop();
  const sent = a.submit(
    JSON.stringify([
      {
        toNode: 'b',
        method: 'REQCliCommand',
        methodArgs: ['sh', '-c', 'touch ran.marker'],
        replyMethod: 'REQNone',
        ttl: 1,
      },
    ]),
    'test',
  );
  assert.deepEqual(sent.rejected, []);
  const id = sent.accepted[0] as string;
  await until('b to ACK', () => a.store.outbox.get(id)?.state === 'delivered');
  return { dir, brokerUrl, a, b, id };
}

test('a stored message whose ttl passed while its node was down is never run after the restart, and both sides say expired', async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  const ship1 = await fleet.startNode('ship1', [], { ADMIRAL_TEST_FAULT: 'exit-after-store' });
  const exited = new Promise((resolve) =>
    ship1.child.once('exit', (_c, signal) => resolve(signal)),
  );
  const sent = await fleet.send('central', [
    {
      toNode: 'ship1',
      method: 'REQCliCommand',
      methodArgs: ['sh', '-c', 'touch ran.marker'],
      replyMethod: 'REQNone',
      ttl: 2,
      ACKTimeout: 30,
    },
  ]);
  assert.deepEqual(sent.rejected, []);
  const id = sent.accepted[0] as string;
  assert.equal(await exited, 'SIGKILL', 'the fault hook killed ship1 after it stored the message');
  const db = new Database(join(ship1.dataDir, 'admiral.db'), { readonly: true });
  t.after(() => db.close());
  const inbox = new Inbox(db);
  assert.equal(inbox.get(id)?.state, 'stored');

  // Past the ttl (well inside ship1's allowed clock skew), ship1 comes back.
  const expired = await fleet.waitFor('central', id, FINAL);
  assert.equal(expired.state, 'expired', JSON.stringify(expired));
  await ship1.restart({});
  await until('ship1 to settle the stored message', () => inbox.get(id)?.state !== 'stored');
  // Give a late run every chance to show itself.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(inbox.get(id)?.state, 'expired');
  assert.equal(existsSync(join(ship1.dataDir, 'ran.marker')), false, 'the command never ran');

  const listed = await fleet.cli([
    'messages',
    '--data-dir',
    fleet.central.dataDir,
    '--format',
    'json',
  ]);
  assert.equal(listed.code, 0, listed.stderr);
  const rows = JSON.parse(listed.stdout) as { id: string; state: string }[];
  assert.equal(rows.find((r) => r.id === id)?.state, 'expired', listed.stdout);
});

test('a delivered request that expires in the inbox before it runs ends expired on the sender at once, by the target’s answer', async (t) => {
  const { dir, brokerUrl, a, b, id } = await markerStoredNotRun(t);
  await b.close();
  await new Promise((r) => setTimeout(r, 1200));

  const b2 = await startInProcessNode('b', dir, brokerUrl);
  t.after(() => b2.close());
  // Without an answer the sender would wait until its answer-by time (more than a minute here).
  await until('the sender to learn that its request expired', () =>
    FINAL.includes(a.store.outbox.get(id)?.state as (typeof FINAL)[number]),
  );
  const rec = a.store.outbox.get(id);
  assert.equal(rec?.state, 'expired', JSON.stringify(rec));
  assert.match(rec?.error ?? '', /expired/);
  assert.equal(b2.store.inbox.get(id)?.state, 'expired');
  assert.equal(existsSync(join(dir, 'b', 'ran.marker')), false, 'the command never ran');
  await b2.close();
});

test('a submitted message whose expiresAt or ttl is beyond the maximum ttl is refused with a clear error', async (t) => {
  const { a } = await twoNodes(t, 'admiral-expiry-');
  const r = a.submit(
    JSON.stringify([
      { toNode: 'b', method: 'REQPing', expiresAt: Number.MAX_SAFE_INTEGER },
      { toNode: 'b', method: 'REQPing', ttl: 30 * 24 * 3600 },
      { toNode: 'b', method: 'REQPing', ttl: 7 * 24 * 3600 },
    ]),
    'test',
  );
  assert.equal(r.accepted.length, 1, 'a ttl of exactly the maximum is accepted');
  assert.deepEqual(
    r.rejected.map((x) => x.index),
    [0, 1],
  );
  for (const rejected of r.rejected) {
    assert.match(
      rejected.errors.join('\n'),
      /at most 604800 s \(messages\.maxTtl\)/,
      JSON.stringify(rejected),
    );
  }
  assert.match(r.rejected[0]?.errors.join('\n') ?? '', /9007199254740991/);
});

test('a received message with a huge expiresAt is capped at createdAt plus the maximum ttl, and an old one is refused as expired', async (t) => {
  const { brokerUrl, a, b } = await twoNodes(t, 'admiral-expiry-');
  b.trust.add(a.identity.publicKey, 'a');
  const nc = await connect({ servers: brokerUrl });
  t.after(() => nc.close());
  const subject = new Subjects('adm').node('b', 'REQPing');
  const send = async (createdAt: number) => {
    const msg: Message = {
      id: newMessageId(Date.now()),
      fromNode: 'a',
      toNode: 'b',
      method: 'REQPing',
      replyMethod: 'REQNone',
      createdAt,
      expiresAt: Number.MAX_SAFE_INTEGER,
    };
    const envelope = encodeEnvelope(signMessage(msg, a.identity), 'none');
    const reply = await nc.request(subject, envelope, { timeout: 5000 });
    return { id: msg.id, ack: decodeAck(reply.data) };
  };

  const now = Date.now();
  const fresh = await send(now);
  assert.deepEqual(fresh.ack, { ack: fresh.id, status: 'stored' });
  await until('b to run it', () => b.store.inbox.get(fresh.id)?.state === 'done');
  assert.equal(b.store.inbox.get(fresh.id)?.expiresAt, now + SEVEN_DAYS_MS);

  // Eight days old: its capped expiry is past, whatever its expiresAt says.
  const old = await send(now - 8 * 24 * 3600 * 1000);
  assert.equal(old.ack.status, 'rejected');
  assert.match(
    old.ack.error ?? '',
    /expired at .*: its expiresAt is capped at createdAt \+ the maximum ttl \(604800 s\)/,
  );
  assert.equal(b.store.inbox.get(old.id), undefined);
});

test('the replay cache keeps an id until its capped expiry plus the clock skew, and a replay after that is refused as expired', async (t) => {
  const { brokerUrl, a, b } = await twoNodes(t, 'admiral-expiry-');
  b.trust.add(a.identity.publicKey, 'a');
  const nc = await connect({ servers: brokerUrl });
  t.after(() => nc.close());
  const createdAt = Date.now();
  const msg: Message = {
    id: newMessageId(createdAt),
    fromNode: 'a',
    toNode: 'b',
    method: 'REQPing',
    replyMethod: 'REQNone',
    createdAt,
    expiresAt: Number.MAX_SAFE_INTEGER,
  };
  const envelope = encodeEnvelope(signMessage(msg, a.identity), 'none');
  const subject = new Subjects('adm').node('b', 'REQPing');
  assert.equal(
    decodeAck((await nc.request(subject, envelope, { timeout: 5000 })).data).status,
    'stored',
  );
  await until('b to run it', () => b.store.inbox.get(msg.id)?.state === 'done');

  const skewMs = 60_000; // the default trust.maxClockSkew
  const keepMs = b.options.store?.inboxKeepAfterExpiryMs ?? 0;
  const horizon = createdAt + SEVEN_DAYS_MS + skewMs + keepMs;
  b.purgeInbox(horizon - 1);
  assert.ok(b.store.inbox.get(msg.id), 'kept up to the capped expiry, plus skew and margin');
  b.purgeInbox(horizon + 1);
  assert.equal(b.store.inbox.get(msg.id), undefined, 'purged past it: not kept forever');
  // Once forgotten, a replay of the same signed message is refused as expired.
  assert.throws(
    () => checkFreshness(msg, { now: horizon - keepMs, maxClockSkewMs: skewMs }),
    MessageExpiredError,
  );
});

test('a command claimed but never started before a crash is not started by recovery once it has expired', async (t) => {
  const { dir, brokerUrl, a, b, id } = await markerStoredNotRun(t);
  // As if b had claimed it and died before the command was spawned (no run directory).
  assert.equal(b.store.inbox.claimRunnable(1).length, 1);
  await b.close();
  await new Promise((r) => setTimeout(r, 1200));

  const b2 = await startInProcessNode('b', dir, brokerUrl);
  t.after(() => b2.close());
  await until(
    'b to settle what it left running',
    () => b2.store.inbox.get(id)?.state !== 'running',
  );
  assert.equal(b2.store.inbox.get(id)?.state, 'expired');
  await until('the sender to hear', () => a.store.outbox.get(id)?.state !== 'delivered');
  assert.equal(a.store.outbox.get(id)?.state, 'expired');
  assert.equal(existsSync(join(dir, 'b', 'ran.marker')), false, 'the command never ran');
  await b2.close();
});

test('a default ttl longer than messages.maxTtl is refused when the configuration loads', () => {
  assert.throws(
    () => loadConfig({ flags: { 'messages.ttl': 30 * 24 * 3600 }, env: {} }),
    /Expected `messages\.ttl` to be a number <= messages\.maxTtl \(604800 s\), got `2592000`/,
  );
  const raised = loadConfig({
    flags: { 'messages.ttl': 30 * 24 * 3600, 'messages.maxTtl': 60 * 24 * 3600 },
    env: {},
  });
  assert.equal(raised.config.messages.maxTtl, 60 * 24 * 3600);
});

test('an idempotent request left running by a crash is not run again by recovery once it has expired', async (t) => {
  const { dir, brokerUrl, a, b } = await twoNodes(t, 'admiral-expiry-');
  b.trust.add(a.identity.publicKey, 'a');
  b.executor.stop();
  const sent = a.submit(
    JSON.stringify([{ toNode: 'b', method: 'REQPing', replyMethod: 'REQNone', ttl: 1 }]),
    'test',
  );
  assert.deepEqual(sent.rejected, []);
  const id = sent.accepted[0] as string;
  await until('b to ACK', () => a.store.outbox.get(id)?.state === 'delivered');
  assert.equal(b.store.inbox.claimRunnable(1).length, 1, 'left running, as by a crash');
  await b.close();
  await new Promise((r) => setTimeout(r, 1200));

  const b2 = await startInProcessNode('b', dir, brokerUrl);
  t.after(() => b2.close());
  await until(
    'b to settle what it left running',
    () => b2.store.inbox.get(id)?.state !== 'running',
  );
  assert.equal(b2.store.inbox.get(id)?.state, 'expired');
  await until('the sender to hear', () => a.store.outbox.get(id)?.state !== 'delivered');
  assert.equal(a.store.outbox.get(id)?.state, 'expired', 'not completed by a late second run');
  await b2.close();
});
