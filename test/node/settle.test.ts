import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { decodeAck, decodeEnvelope } from '../../src/protocol/index.js';
import { twoNodes, until } from '../helpers/in-process.js';

// A reply whose method does nothing (REQNone) settles its request in the receiver's commit: no
// inbox row is stored, claimed or run for it, and a second copy is answered `duplicate` without
// changing anything. Other reply methods are stored, claimed and run as before.

interface InboxRow {
  id: string;
  method: string;
  state: string;
  started_at: number | null;
  finished_at: number | null;
}

test('a REQNone reply settles its request at receipt, never claimed; a REQToFile reply is still run', async (t) => {
  const { dir, brokerUrl, a, b } = await twoNodes(t, 'admiral-settle-');
  b.trust.add(a.identity.publicKey, 'a');

  const sent = a.submit(
    JSON.stringify([
      { toNode: 'b', method: 'REQPing', replyMethod: 'REQNone' },
      {
        toNode: 'b',
        method: 'REQCliCommand',
        methodArgs: ['sh', '-c', 'exit 3'],
        replyMethod: 'REQNone',
      },
      {
        toNode: 'b',
        method: 'REQPing',
        replyMethod: 'REQToFile',
        directory: 'results',
        fileName: 'ping.txt',
      },
    ]),
    'test',
  );
  assert.deepEqual(sent.rejected, []);
  const [ping, failing, toFile] = sent.accepted as [string, string, string];
  const stateOf = (id: string): string | undefined => a.store.outbox.get(id)?.state;
  await until('all three requests to end', () =>
    [ping, failing, toFile].every((id) => !['pending', 'delivered'].includes(stateOf(id) ?? '')),
  );
  // The terminal states come from the replies' statuses, as before.
  assert.equal(stateOf(ping), 'completed');
  assert.equal(stateOf(failing), 'failed');
  assert.equal((a.store.outbox.get(failing)?.result as { exitCode?: number }).exitCode, 3);
  assert.equal(stateOf(toFile), 'completed');

  const rows = a.store.database.db
    .prepare('SELECT id, method, state, started_at, finished_at FROM inbox ORDER BY method')
    .all() as InboxRow[];
  assert.deepEqual(
    rows.filter((r) => r.method === 'REQNone'),
    [],
    'a REQNone reply leaves no inbox row',
  );
  const file = rows.filter((r) => r.method === 'REQToFile');
  assert.equal(file.length, 1);
  assert.equal(file[0]?.state, 'done');
  assert.ok(file[0]?.started_at !== null, 'a REQToFile reply is claimed and run');
  assert.match(await readFile(join(dir, 'a', 'results', 'ping.txt'), 'utf8'), /pong|b/i);

  // Both REQNone replies still leave their audit lines: received, then finished.
  const audit = (await readFile(join(dir, 'a', 'audit.log'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id: string; event: string; method: string; direction: string });
  const noneIds = [
    ...new Set(
      audit.filter((e) => e.method === 'REQNone' && e.direction === 'in').map((e) => e.id),
    ),
  ];
  assert.equal(noneIds.length, 2, JSON.stringify(audit));
  for (const id of noneIds) {
    assert.deepEqual(
      audit.filter((e) => e.id === id).map((e) => e.event),
      ['received', 'finished'],
    );
  }

  // A second copy of a reply (b resending it, or a replay) is answered duplicate; the state and
  // result its first copy recorded stay.
  const reply = b.store.outbox.list({ limit: 10 }).find((r) => r.method === 'REQNone');
  assert.ok(reply, 'b sent REQNone replies');
  const answered = decodeEnvelope(reply.envelope).msg.inReplyTo ?? '';
  assert.ok([ping, failing].includes(answered));
  const before = a.store.outbox.get(answered);
  const nc = await connect({ servers: brokerUrl });
  t.after(() => nc.close());
  const answer = await nc.request(a.subjects.node('a', 'REQNone'), reply.envelope, {
    timeout: 5000,
  });
  assert.equal(decodeAck(answer.data).status, 'duplicate');
  assert.deepEqual(a.store.outbox.get(answered), before);
  assert.equal(a.executor.executed >= 3, true);
});

test('a result that cannot be recorded is left running; the others of its batch still commit', async (t) => {
  const { a, b } = await twoNodes(t, 'admiral-settle-');
  const pings = Array.from({ length: 4 }, () => ({
    toNode: 'b',
    method: 'REQPing',
    replyMethod: 'REQNone',
  }));
  const sent = a.submit(JSON.stringify(pings), 'test');
  assert.deepEqual(sent.rejected, []);
  const [bad, ...good] = sent.accepted as [string, ...string[]];
  // On b, recording the first ping's result fails (as a full disk would make it fail).
  b.store.database.db.exec(`
    CREATE TEMP TRIGGER cannot_record BEFORE UPDATE OF state ON inbox
    WHEN NEW.id = '${bad}' AND NEW.state = 'done'
    BEGIN SELECT RAISE(ABORT, 'test: cannot record'); END;`);
  const stateOf = (id: string): string | undefined => a.store.outbox.get(id)?.state;
  await until('the other pings to complete', () => good.every((id) => stateOf(id) === 'completed'));
  assert.equal(b.store.inbox.get(bad)?.state, 'running', 'left for the next start to recover');
  for (const id of good) assert.equal(b.store.inbox.get(id)?.state, 'done');
  // Its ACK is written with others a moment later (Outbox.deliveredLater); no result follows it.
  await until('its ACK to be recorded', () => stateOf(bad) !== 'pending');
  assert.equal(stateOf(bad), 'delivered', 'its result never went back');
});

test('a recovered result that cannot be recorded keeps its run directory: the next start reports it, never runs it again', async (t) => {
  const { dir, a, b } = await twoNodes(t, 'admiral-settle-');
  b.trust.add(a.identity.publicKey, 'a');
  const sent = a.submit(
    JSON.stringify([
      {
        toNode: 'b',
        method: 'REQCliCommand',
        methodArgs: ['sh', '-c', 'echo ran >> runs.log'],
        replyMethod: 'REQNone',
      },
    ]),
    'test',
  );
  assert.deepEqual(sent.rejected, []);
  const [id] = sent.accepted as [string];
  // On b, recording the command's result fails, as a crash just before the commit would leave it.
  b.store.database.db.exec(`
    CREATE TEMP TRIGGER cannot_record BEFORE UPDATE OF state ON inbox
    WHEN NEW.id = '${id}' AND NEW.state = 'done'
    BEGIN SELECT RAISE(ABORT, 'test: cannot record'); END;`);
  const runDir = join(dir, 'b', 'run', id);
  const runs = join(dir, 'b', 'runs.log');
  await until('the command to run', () => existsSync(runs));
  await until('its result to fail to commit', () => b.executor.running().length === 0);
  assert.equal(b.store.inbox.get(id)?.state, 'running');
  assert.ok(existsSync(join(runDir, 'exit')), 'the run directory stays');

  // Recovery (as at the next start) finds the exit code, but cannot record it either: the run
  // directory must outlive the failed commit, or the start after reads "never started".
  await b.executor.recover(b.store.inbox.running());
  assert.equal(b.store.inbox.get(id)?.state, 'running');
  await new Promise((r) => setTimeout(r, 200)); // a cleanup started too early would be done by now
  assert.ok(existsSync(join(runDir, 'exit')), 'the run directory outlives the failed commit');

  // Once it can be recorded, recovery reports the result; the command ran once.
  b.store.database.db.exec('DROP TRIGGER cannot_record');
  await b.executor.recover(b.store.inbox.running());
  assert.equal(b.store.inbox.get(id)?.state, 'done');
  await until('a to hear the result', () => a.store.outbox.get(id)?.state === 'completed');
  await until('the run directory to be removed', () => !existsSync(runDir));
  assert.equal(await readFile(runs, 'utf8'), 'ran\n');
});
