import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jobMessageIds } from '../../src/central/job-runner.js';
import { generateIdentity, newMessageId } from '../../src/protocol/index.js';
import { UUIDV7_PATTERN } from '../../src/protocol/id.js';

// A job's message ids (central/job-runner.ts): the same for a node whichever central of those
// sharing one key computes them (a standby resends a batch under the ids the leader used, and a
// node that has the message answers `duplicate`), different for every node, job and key, and
// valid UUIDv7 carrying the job's time.

test('job message ids: UUIDv7 with the job time, one per node, the same from the same key only', () => {
  const key = generateIdentity().seed;
  const other = generateIdentity().seed;
  const job = newMessageId();
  const ids = jobMessageIds(key, job);
  const nodes = Array.from({ length: 500 }, (_, i) => `node${i}`);
  const all = nodes.map((n) => ids(n));
  for (const id of all) {
    assert.match(id, UUIDV7_PATTERN);
    assert.equal(id.slice(0, 13), job.slice(0, 13), 'the time of the job');
  }
  assert.equal(new Set(all).size, nodes.length, 'one id per node');
  assert.deepEqual(
    nodes.map((n) => jobMessageIds(key, job)(n)),
    all,
    'the same key computes the same ids (another central sharing it)',
  );
  const otherKey = jobMessageIds(other, job);
  assert.ok(
    nodes.every((n, i) => otherKey(n) !== all[i]),
    'another key, other ids',
  );
  const otherJob = jobMessageIds(key, newMessageId());
  assert.ok(
    nodes.every((n, i) => otherJob(n) !== all[i]),
    'another job, other ids',
  );
});
