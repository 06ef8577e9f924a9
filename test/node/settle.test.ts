import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { twoNodes, until } from '../helpers/in-process.js';

// A reply whose method does nothing (REQNone) settles its request as soon as it is stored: the
// executor never claims or runs it. Other reply methods are claimed and run as before.

interface InboxRow {
  id: string;
  method: string;
  state: string;
  started_at: number | null;
  finished_at: number | null;
}

test('a REQNone reply settles its request at receipt, never claimed; a REQToFile reply is still run', async (t) => {
  const { dir, a, b } = await twoNodes(t, 'admiral-settle-');
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
  const none = rows.filter((r) => r.method === 'REQNone');
  assert.equal(none.length, 2, JSON.stringify(rows));
  for (const r of none) {
    assert.equal(r.state, 'done');
    assert.equal(r.started_at, null, 'a REQNone reply is never claimed to run');
    assert.ok(r.finished_at !== null);
  }
  const file = rows.filter((r) => r.method === 'REQToFile');
  assert.equal(file.length, 1);
  assert.equal(file[0]?.state, 'done');
  assert.ok(file[0]?.started_at !== null, 'a REQToFile reply is claimed and run');
  assert.match(await readFile(join(dir, 'a', 'results', 'ping.txt'), 'utf8'), /pong|b/i);

  // Both replies still leave their audit lines: received, then finished.
  const audit = (await readFile(join(dir, 'a', 'audit.log'), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id: string; event: string });
  for (const r of none) {
    assert.deepEqual(
      audit.filter((e) => e.id === r.id).map((e) => e.event),
      ['received', 'finished'],
    );
  }
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
  assert.equal(stateOf(bad), 'delivered', 'its result never went back');
});
