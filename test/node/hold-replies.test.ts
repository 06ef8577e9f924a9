import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Broker } from '../../src/broker/index.js';
import type { NodeContext, NodeExtension } from '../../src/node/extension.js';
import { startInProcessNode, until } from '../helpers/in-process.js';

// NodeContext.holdReplies (what a central on shared state uses: a job node's end state is in the
// journal before the reply that brought it is ACKed). The reply settles its request at once, but
// its ACK waits for the hold; a hold that fails leaves it unACKed, so the replier sends it again
// and the copy is held again.

// Replies ACKed within a second, and sent again often enough for the test.
const FAST = { 'messages.replyAckTimeout': 1, 'messages.replyRetries': 5 };

test('a settled reply is ACKed only once what holds it resolves; a failed hold leaves it for a resend', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-hold-'));
  const broker = await Broker.start({ host: '127.0.0.1', port: 0 });
  const holds: { requests: readonly string[]; resolve: () => void; reject: (e: Error) => void }[] =
    [];
  const holder: NodeExtension = {
    name: 'holder',
    async start(ctx: NodeContext) {
      ctx.holdReplies(
        (requests) =>
          new Promise<void>((resolve, reject) => holds.push({ requests, resolve, reject })),
      );
    },
    async stop() {},
  };
  const a = await startInProcessNode('a', dir, broker.url, { flags: FAST, extensions: [holder] });
  const b = await startInProcessNode('b', dir, broker.url, { flags: FAST });
  t.after(async () => {
    await a.close();
    await b.close();
    await broker.close();
    await rm(dir, { recursive: true, force: true });
  });
  b.trust.add(a.identity.publicKey, 'a');

  const sent = a.submit(
    JSON.stringify([{ toNode: 'b', method: 'REQPing', replyMethod: 'REQNone' }]),
  );
  const [id] = sent.accepted as [string];
  await until(
    'the reply to settle the request',
    () => a.store.outbox.get(id)?.state === 'completed',
  );
  await until('the first hold', () => holds.length === 1);
  assert.deepEqual(holds[0]?.requests, [id]);
  const reply = (): { state: string; attempts: number } | undefined =>
    b.store.database.db.prepare("SELECT state, attempts FROM outbox WHERE kind = 'reply'").get() as
      { state: string; attempts: number } | undefined;
  assert.equal(reply()?.state, 'pending', 'the reply is not ACKed while held');

  // The hold fails: no ACK; b sends the reply again after its ACK timeout, and it is held again.
  holds[0]?.reject(new Error('journal unreachable'));
  await until('the resent copy to be held', () => holds.length === 2, 5000);
  assert.deepEqual(holds[1]?.requests, [id]);
  assert.equal(reply()?.state, 'pending', 'a failed hold ACKs nothing');
  assert.ok((reply()?.attempts ?? 0) >= 2, `attempts: ${reply()?.attempts}`);

  holds[1]?.resolve();
  await until('the reply to be ACKed', () => reply()?.state !== 'pending', 5000);
  assert.equal(a.store.outbox.get(id)?.state, 'completed', 'the request settled once');
});
