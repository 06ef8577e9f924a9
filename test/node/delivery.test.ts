import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import Database from 'better-sqlite3';
import { decodeAck, Subjects } from '../../src/protocol/index.js';
import { Inbox } from '../../src/store/inbox.js';
import { type Fleet, startFleet } from '../helpers/fleet.js';

// Durable delivery with real processes (DESIGN.md, "How a message travels"): offline targets,
// crashes of the receiver and of the sender, duplicates and refusals.

const FINAL = ['completed', 'failed', 'rejected', 'expired', 'interrupted', 'cancelled'] as const;

/** A command that appends `token` to executions.log in the node's data dir (its cwd). */
function countingCommand(toNode: string, token: string, extra: Record<string, unknown> = {}) {
  return {
    toNode,
    method: 'REQCliCommand',
    methodArgs: ['sh', '-c', `echo ${token} >> executions.log`],
    replyMethod: 'REQNone',
    ...extra,
  };
}

/** How many times each token was executed on `node`. */
async function executions(fleet: Fleet, node: string): Promise<Map<string, number>> {
  const proc = fleet.nodes.get(node);
  assert.ok(proc, `node ${node}`);
  let text = '';
  try {
    text = await readFile(join(proc.dataDir, 'executions.log'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const counts = new Map<string, number>();
  for (const line of text.split('\n').filter(Boolean))
    counts.set(line, (counts.get(line) ?? 0) + 1);
  return counts;
}

async function sendOne(fleet: Fleet, from: string, msg: Record<string, unknown>): Promise<string> {
  const result = await fleet.send(from, [msg]);
  assert.deepEqual(result.rejected, []);
  const [id] = result.accepted;
  assert.ok(id);
  return id;
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a message to an offline node is delivered when the node starts within its ttl, and ends expired past it', async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  const id = await sendOne(fleet, 'central', countingCommand('ship1', 'late', { ttl: 60 }));
  // ship1 does not exist yet: the message waits, retried, in central's outbox.
  await until('a failed delivery attempt', () => (fleet.record('central', id)?.attempts ?? 0) >= 1);
  assert.equal(fleet.record('central', id)?.state, 'pending');
  await fleet.startNode('ship1');
  const done = await fleet.waitFor('central', id, FINAL);
  assert.equal(done.state, 'completed', JSON.stringify(done));
  assert.deepEqual([...(await executions(fleet, 'ship1'))], [['late', 1]]);

  // A short ttl that runs out before its node (ship2) ever starts.
  const shortId = await sendOne(fleet, 'central', countingCommand('ship2', 'never', { ttl: 1 }));
  const expired = await fleet.waitFor('central', shortId, FINAL);
  assert.equal(expired.state, 'expired', JSON.stringify(expired));
  assert.match(expired.error ?? '', /not delivered before it expired/);
  // Started afterwards, ship2 never gets it: a later message arrives and runs alone.
  await fleet.startNode('ship2');
  const after = await sendOne(fleet, 'central', countingCommand('ship2', 'after'));
  assert.equal((await fleet.waitFor('central', after, FINAL)).state, 'completed');
  assert.deepEqual([...(await executions(fleet, 'ship2'))], [['after', 1]]);
});

test('a receiver killed after storing a message but before ACKing it runs the command once after restart', async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  const ship1 = await fleet.startNode('ship1', [], { ADMIRAL_TEST_FAULT: 'exit-after-store' });
  const exited = new Promise((resolve) =>
    ship1.child.once('exit', (_c, signal) => resolve(signal)),
  );
  const id = await sendOne(fleet, 'central', countingCommand('ship1', 'once', { ACKTimeout: 2 }));
  assert.equal(await exited, 'SIGKILL', 'the fault hook killed ship1');
  // It is in ship1's inbox, not run, and central has no ACK.
  const db = new Database(join(ship1.dataDir, 'admiral.db'), { readonly: true });
  t.after(() => db.close());
  assert.equal(new Inbox(db).get(id)?.state, 'stored');
  assert.equal(fleet.record('central', id)?.state, 'pending');
  assert.equal((await executions(fleet, 'ship1')).size, 0);

  await ship1.restart({});
  const done = await fleet.waitFor('central', id, FINAL);
  assert.equal(done.state, 'completed', JSON.stringify(done));
  assert.deepEqual([...(await executions(fleet, 'ship1'))], [['once', 1]]);
  assert.equal(new Inbox(db).get(id)?.state, 'done');
});

test('a sender killed while retrying delivers the message once after it restarts', async (t) => {
  const fleet = await startFleet(t, { nodes: ['ship1'] });
  // ship2 must trust ship1 to run commands from it.
  const key = await fleet.cli(['keys', 'show', '--data-dir', join(fleet.dir, 'ship1')]);
  assert.equal(key.code, 0, key.stderr);
  const trust = await fleet.cli([
    'trust',
    'add',
    key.stdout.trim(),
    '--label',
    'ship1',
    '--data-dir',
    join(fleet.dir, 'ship2'),
  ]);
  assert.equal(trust.code, 0, trust.stderr);

  const ship1 = fleet.nodes.get('ship1');
  assert.ok(ship1);
  const id = await sendOne(
    fleet,
    'ship1',
    countingCommand('ship2', 'from-ship1', { ACKTimeout: 1 }),
  );
  await until('two failed attempts', () => (fleet.record('ship1', id)?.attempts ?? 0) >= 2);
  await ship1.kill9();
  assert.equal(fleet.record('ship1', id)?.state, 'pending');
  await ship1.restart();
  await fleet.startNode('ship2');
  const done = await fleet.waitFor('ship1', id, FINAL);
  assert.equal(done.state, 'completed', JSON.stringify(done));
  assert.deepEqual([...(await executions(fleet, 'ship2'))], [['from-ship1', 1]]);
});

test('a duplicate delivery is ACKed again and never run twice', async (t) => {
  const fleet = await startFleet(t, { nodes: ['ship1'] });
  const id = await sendOne(fleet, 'central', countingCommand('ship1', 'first'));
  assert.equal((await fleet.waitFor('central', id, FINAL)).state, 'completed');
  const rec = fleet.record('central', id);
  assert.ok(rec);

  // Resend the very same signed envelope, as a sender that lost the ACK would.
  const nc = await connect({ servers: fleet.brokerUrl });
  t.after(() => nc.close());
  const reply = await nc.request(new Subjects('adm').node('ship1', 'REQCliCommand'), rec.envelope, {
    timeout: 5000,
  });
  assert.deepEqual(decodeAck(reply.data), { ack: id, status: 'duplicate' });

  // A later message runs; the duplicate, ahead of it, did not.
  const marker = await sendOne(fleet, 'central', countingCommand('ship1', 'marker'));
  assert.equal((await fleet.waitFor('central', marker, FINAL)).state, 'completed');
  assert.deepEqual(
    [...(await executions(fleet, 'ship1'))],
    [
      ['first', 1],
      ['marker', 1],
    ],
  );
});

test('a message from an untrusted signer ends rejected at the sender with a clear error and a line in central error log', async (t) => {
  const fleet = await startFleet(t, { nodes: ['ship1', 'ship2'] });
  const id = await sendOne(fleet, 'ship1', countingCommand('ship2', 'nope'));
  const rec = await fleet.waitFor('ship1', id, FINAL);
  assert.equal(rec.state, 'rejected', JSON.stringify(rec));
  assert.match(rec.error ?? '', /not trusted to call REQCliCommand/);
  assert.match(rec.error ?? '', /admiral trust add U[A-Z0-9]+/);
  assert.equal((await executions(fleet, 'ship2')).size, 0);

  const log = join(fleet.central.dataDir, 'errorLog', 'central', 'error.log');
  let text = '';
  await until('the error log line', async () => {
    text = await readFile(log, 'utf8').catch(() => '');
    return text.includes(id);
  });
  const line = text.split('\n').find((l) => l.includes(id)) ?? '';
  assert.match(line, /REQCliCommand/);
  assert.match(line, /not trusted/);
});
