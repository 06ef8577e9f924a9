import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketKeys } from '../../src/store/jetstream/buckets.js';
import { generateIdentity } from '../../src/protocol/index.js';
import { JobJournal } from '../../src/store/jetstream/jobs.js';
import { startJetStream } from '../helpers/jetstream.js';

// The job journal on JetStream (src/store/jetstream/jobs.ts): the end states given in one turn
// of the event loop go into one entry per job (a settled batch of replies: one put, not one per
// node), split when they would pass the entry size; each put resolves once stored; a crafted
// entry naming no valid node is skipped when read back.

test('end states of one turn are one entry, split by size, and read back by node', async (t) => {
  const js = await startJetStream(t);
  if (js === undefined) return;
  const central = generateIdentity();
  const journal = await JobJournal.open(js.nc, { prefix: 'jt' }, central);
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
  // Attack: end states sealed by another key (a JetStream API user without the centrals' key).
  const other = await JobJournal.open(js.nc, { prefix: 'jt' }, generateIdentity());
  await other.putOutcome(job, 'n9', { state: 'completed', exitCode: 0, output: 'forged' }, 3000);
  await journal.kv.put(`ends.${job}.text`, 'not JSON');
  const out = await journal.outcomes(job);
  assert.deepEqual([...out.keys()].sort(), ['b1', 'b2', 'b3', 'b4', 'n1', 'n2', 'n3']);
  assert.equal(out.get('n2')?.output, 'n2');
  assert.equal(out.get('b4')?.output?.length, big.length);
});

test('a running job in the journal not sealed by the centrals key is not taken over', async (t) => {
  const js = await startJetStream(t);
  if (js === undefined) return;
  const central = generateIdentity();
  const journal = await JobJournal.open(js.nc, { prefix: 'jr' }, central);
  const job = (id: string) => ({
    id,
    spec: { args: ['true'] } as never,
    submittedBy: 'operator',
    nodes: ['n1'],
    createdAt: 1,
    state: 'running' as const,
  });
  await journal.putJob(job('01a24d42-7405-71b1-93d8-ae625f2c1ff8'));
  // Attack: a job to run `rm -rf /` everywhere, written by a JetStream API user without the key,
  // sealed by its own key or not sealed at all.
  const other = await JobJournal.open(js.nc, { prefix: 'jr' }, generateIdentity());
  await other.putJob({ ...job('01a24d42-7405-71b1-93d8-ae625f2c1ff9'), nodes: ['n1', 'n2'] });
  await journal.kv.put(
    'job.01a24d42-7405-71b1-93d8-ae625f2c1ffa',
    JSON.stringify(job('01a24d42-7405-71b1-93d8-ae625f2c1ffa')),
  );
  assert.deepEqual(
    (await journal.running()).map((j) => j.id),
    ['01a24d42-7405-71b1-93d8-ae625f2c1ff8'],
  );
});
