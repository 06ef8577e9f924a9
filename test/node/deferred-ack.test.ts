import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { decodeEnvelope, encodeAck, Subjects } from '../../src/protocol/index.js';
import { startBroker } from '../conformance/brokers.js';
import { startInProcessNode, until } from '../helpers/in-process.js';

// An ACK is written a moment after it comes, with others (Outbox.deliveredLater): a request whose
// reserved retry comes before that write must be recorded delivered then, not sent again.

test('an ACKed request whose result does not come is recorded delivered and never sent again, though its retry time comes before the ACK is written', async (t) => {
  const broker = await startBroker(t, 'embedded');
  assert.ok(broker);
  const dir = await mkdtemp(join(tmpdir(), 'admiral-deferred-ack-'));
  const a = await startInProcessNode('a', dir, broker.url);
  // b: stores everything it gets (ACKs it) and never answers.
  const b = await connect({ servers: broker.url });
  t.after(async () => {
    await b.close();
    await a.close();
    await rm(dir, { recursive: true, force: true });
  });
  const deliveries: string[] = [];
  b.subscribe(new Subjects().nodeSubscription('b'), {
    callback: (_err, m) => {
      const id = decodeEnvelope(m.data).msg.id;
      deliveries.push(id);
      m.respond(encodeAck({ ack: id, status: 'stored' }));
    },
  });
  await b.flush();
  const r = a.submit(
    JSON.stringify([{ toNode: 'b', method: 'REQPing', replyMethod: 'REQNone', ACKTimeout: 1 }]),
  );
  assert.deepEqual(r.rejected, []);
  const id = r.accepted[0] as string;
  await until('the ACK to be recorded', () => a.store.outbox.get(id)?.state === 'delivered');
  // Past the 1 s ACK timeout and its backoff, and past the deferred write's 2 s.
  await new Promise((resolve) => setTimeout(resolve, 3500));
  assert.deepEqual(deliveries, [id], 'sent once');
  const row = a.store.outbox.get(id);
  assert.equal(row?.state, 'delivered');
  assert.equal(row?.attempts, 1);
});
