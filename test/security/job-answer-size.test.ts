import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import type { AdmiralClient } from '../../src/client/connect.js';
import { getJob, getJobWithNodes, submitJob } from '../../src/fleet/jobs-client.js';
import { identityFromSeed, Subjects } from '../../src/protocol/index.js';
import { startFleet } from '../helpers/fleet.js';

// A job's whole view (every node's row) grows with the job: past the broker's max_payload
// (1 MiB) nats.js throws from `respond`, and that throw ended central. Central answers an error
// that says so instead, and the client reads a large job's nodes in pages.

test("a job whose view passes the broker's max_payload does not end central, and its nodes are read in pages", async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  const nc = await connect({ servers: fleet.brokerUrl });
  t.after(() => nc.close());
  const client = {
    nc,
    subjects: new Subjects(),
    central: 'central',
    identity: identityFromSeed(readFileSync(join(fleet.central.dataDir, 'identity.seed'), 'utf8')),
    localIdentity: true,
    dataDir: fleet.central.dataDir,
    brokerUrl: fleet.brokerUrl,
    close: async () => undefined,
  } satisfies AdmiralClient;
  // Offline nodes: their messages wait in central's outbox, each node row stays in the view.
  const names = Array.from({ length: 12_000 }, (_, i) => `offline-node-with-a-long-name-${i}`);
  const job = await submitJob(client, { args: ['true'], nodes: names }, 60_000);
  assert.equal(job.counts.total, names.length);

  await assert.rejects(getJob(client, job.id), /max_payload/);
  // Central is still up and answering.
  const summary = await getJob(client, job.id, { nodes: false });
  assert.equal(summary.id, job.id);
  // Target order: the resolver sorts the names.
  const sorted = [...names].sort();
  const whole = await getJobWithNodes(client, job.id);
  assert.deepEqual(
    whole.nodes?.map((n) => n.node),
    sorted,
  );
  const page = await getJob(client, job.id, { offset: 11_999, limit: 5 });
  assert.deepEqual(
    page.nodes?.map((n) => n.node),
    [sorted[11_999]],
  );
});
