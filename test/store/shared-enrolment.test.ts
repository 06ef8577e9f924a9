import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EnrolRecord } from '../../src/central/enrolment-store.js';
import { generateIdentity } from '../../src/protocol/index.js';
import { SharedEnrolment } from '../../src/store/jetstream/enrolment.js';
import { startJetStream } from '../helpers/jetstream.js';

// The enrolment records centrals share on JetStream (src/store/jetstream/enrolment.ts): values are
// signed by the centrals' key and read back only when they are. Attack: a broker user allowed the
// JetStream API, without that key, writes an `accepted` record for a node of its own, or puts a
// plain JSON record: neither is read back. A dropped record is a signed tombstone, not a delete.

const record = (name: string, publicKey: string): EnrolRecord => ({
  name,
  publicKey,
  state: 'accepted',
  requestedAt: 1,
  updatedAt: 2,
  via: 'operator',
});

test('shared enrolment records are read back only when signed by the centrals key; a drop is a tombstone', async (t) => {
  const js = await startJetStream(t);
  if (js === undefined) return;
  const central = generateIdentity();
  const ours = await SharedEnrolment.open(js.nc, { prefix: 'se' }, central);
  const theirs = await SharedEnrolment.open(js.nc, { prefix: 'se' }, generateIdentity());
  const ship = generateIdentity().publicKey;
  await ours.write({ kind: 'node', key: 'ship1', value: record('ship1', ship) }, 10);
  await theirs.write(
    { kind: 'node', key: 'evil', value: record('evil', generateIdentity().publicKey) },
    11,
  );
  await ours.kv.put('node.plain', JSON.stringify(record('plain', ship)));
  const read = await ours.all();
  assert.deepEqual(
    read.map((r) => [r.change.key, r.at]),
    [['ship1', 10]],
    'only the record signed by the centrals key',
  );
  const got = read[0]?.change;
  assert.equal(got?.kind === 'node' ? got.value?.publicKey : undefined, ship);

  await ours.write({ kind: 'node', key: 'ship1' }, 12);
  const after = await ours.all();
  assert.deepEqual(
    after.map((r) => [r.change.key, r.at, r.change.value]),
    [['ship1', 12, undefined]],
    'the drop is a tombstone at its time',
  );
});
