import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketKeys } from '../../src/store/jetstream/buckets.js';
import { JobJournal } from '../../src/store/jetstream/jobs.js';
import { startJetStream } from '../helpers/jetstream.js';

// The job journal on JetStream (src/store/jetstream/jobs.ts): the end states given in one turn
// of the event loop go into one entry per job (a settled batch of replies: one put, not one per
// node), split when they would pass the entry size; each put resolves once stored; a crafted
// entry naming no valid node is skipped when read back.

test('end states of one turn are one entry, split by size, and read back by node', async (t) => {
  const js = await startJetStream(t);
  if (js === undefined) return;
  const journal = await JobJournal.open(js.nc, { prefix: 'jt' });
  const job = '01a24d42-7405-71b1-93d8-ae625f2c1ff8';
  await Promise.all(
    ['n1', 'n2', 'n3'].map((n, i) =>
      journal.putOutcome(job, n, { state: 'completed', exitCode: 0, output: n }, 1000 + i),
    ),
  );
  assert.equal((await bucketKeys(journal.kv, `ends.${job}.*`)).length, 1, 'one entry for the turn');
  // A turn whose outputs together pass the entry size is split; every node is still there.
  const big = 'x'.repeat(100 * 1024);
  await Promise.all(
    ['b1', 'b2', 'b3', 'b4'].map((n) =>
      journal.putOutcome(job, n, { state: 'failed', exitCode: 1, output: big }, 2000),
    ),
  );
  assert.ok((await bucketKeys(journal.kv, `ends.${job}.*`)).length >= 3, 'split by size');
  await journal.kv.put(
    `ends.${job}.crafted`,
    JSON.stringify({ '../x': { state: 'completed', finishedAt: 1 } }),
  );
  await journal.kv.put(`ends.${job}.garbage`, '{"n1": "not an end state"}');
  await journal.kv.put(`ends.${job}.text`, 'not JSON');
  const out = await journal.outcomes(job);
  assert.deepEqual([...out.keys()].sort(), ['b1', 'b2', 'b3', 'b4', 'n1', 'n2', 'n3']);
  assert.equal(out.get('n2')?.output, 'n2');
  assert.equal(out.get('b4')?.output?.length, big.length);
});
