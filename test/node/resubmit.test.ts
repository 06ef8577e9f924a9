import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { SubmitResult } from '../../src/node/inputs/types.js';
import { newMessageId } from '../../src/protocol/index.js';
import { startFleet } from '../helpers/fleet.js';

// A client that lost the answer to a batch sends it again, same ids: each message already taken
// is answered as a duplicate with where it stands, neither stored nor sent twice.

const ping = (id: string): Record<string, unknown> => ({
  id,
  toNode: 'central',
  method: 'REQPing',
  replyMethod: 'REQNone',
});

test('a batch sent again through the unix socket and the HTTP input is answered with each id as a duplicate and its state', async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  const { central } = fleet;
  const [a, b, c] = [newMessageId(), newMessageId(), newMessageId()];

  const first = await fleet.send('central', [ping(a), ping(b)]);
  assert.deepEqual(first, { accepted: [a, b], rejected: [], duplicates: [] });
  await fleet.waitFor('central', a, ['completed']);
  await fleet.waitFor('central', b, ['completed']);

  const again = await fleet.send('central', [ping(a), ping(b)]);
  assert.deepEqual(again, {
    accepted: [],
    rejected: [],
    duplicates: [
      { id: a, state: 'completed' },
      { id: b, state: 'completed' },
    ],
  });

  // Over HTTP: a new id among old ones is taken, the old ones are named; a copy of an id within
  // one batch is a duplicate of the first copy.
  const url = /http:\s+(http:\/\/\S+)/.exec(central.output())?.[1];
  assert.ok(url, central.output());
  const token = readFileSync(join(central.dataDir, 'api-token'), 'utf8').trim();
  const res = await fetch(`${url}/api/v1/messages`, {
    method: 'POST',
    body: JSON.stringify([ping(a), ping(c), ping(c), { toNode: 'central', method: 'REQNope' }]),
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 200);
  const mixed = (await res.json()) as SubmitResult;
  assert.deepEqual(mixed.accepted, [c]);
  assert.deepEqual(
    mixed.rejected.map((r) => r.index),
    [3],
  );
  assert.deepEqual(mixed.duplicates, [
    { id: a, state: 'completed' },
    { id: c, state: 'pending' },
  ]);
  await fleet.waitFor('central', c, ['completed']);
  const record = fleet.record('central', a);
  assert.equal(record?.attempts, 1, JSON.stringify(record));
});

test('admiral send of the same file twice names the messages already sent and exits 0', async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  const id = newMessageId();
  const file = join(fleet.dir, 'again.json');
  writeFileSync(file, JSON.stringify([ping(id)]));
  const first = await fleet.cli(['send', file]);
  assert.deepEqual([first.code, first.stdout, first.stderr], [0, `${id}\n`, '']);
  await fleet.waitFor('central', id, ['completed']);
  const second = await fleet.cli(['send', file]);
  assert.deepEqual(
    [second.code, second.stdout, second.stderr],
    [0, '', `message ${id} was already sent, not sent again: completed\n`],
  );
});
