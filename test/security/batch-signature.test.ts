import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import {
  decodeAck,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  newMessageId,
  Subjects,
} from '../../src/protocol/index.js';
import { BROKER_KINDS, startBroker } from '../conformance/brokers.js';
import { startInProcessNode, until } from '../helpers/in-process.js';

// A batch signature (protocol/merkle.ts) as an attacker on the broker would try it: copies of
// genuine batch-signed requests from a trusted sender, taken off the wire, changed or given
// another message's path, must not run anything on the node they are sent to.

const subjects = new Subjects();

for (const kind of BROKER_KINDS) {
  test(`[${kind}] a batch-signed request changed on the wire, or given another message's path, is refused and runs nothing`, async (t) => {
    const broker = await startBroker(t, kind);
    if (broker === undefined) return;
    const dir = await mkdtemp(join(tmpdir(), 'admiral-batch-sig-'));
    const a = await startInProcessNode('a', dir, broker.url);
    const b = await startInProcessNode('b', dir, broker.url);
    const attacker = await connect({ servers: broker.url });
    t.after(async () => {
      await attacker.close();
      await b.close();
      await a.close();
      await rm(dir, { recursive: true, force: true });
    });
    b.trust.add(a.identity.publicKey, 'a');
    // The attacker sees what a sends to b and to c (nobody runs c).
    const seen: Envelope[] = [];
    for (const node of ['b', 'c']) {
      attacker.subscribe(subjects.nodeSubscription(node), {
        callback: (_e, m) => {
          seen.push(decodeEnvelope(m.data));
        },
      });
    }
    await attacker.flush();
    const r = a.submit(
      JSON.stringify(
        ['b', 'c'].map((toNode) => ({
          toNode,
          method: 'REQCliCommand',
          methodArgs: ['sh', '-c', 'echo ok'],
          replyMethod: 'REQNone',
        })),
      ),
    );
    assert.deepEqual(r.rejected, []);
    await until('both requests on the wire', () =>
      ['b', 'c'].every((n) => seen.some((e) => e.msg.toNode === n)),
    );
    const toB = seen.find((e) => e.msg.toNode === 'b') as Envelope;
    const toC = seen.find((e) => e.msg.toNode === 'c') as Envelope;
    assert.ok(toB.proof !== undefined && toB.sig === toC.sig, 'one signature for both');
    await until('the genuine request to complete', () =>
      r.accepted.slice(0, 1).every((id) => a.store.outbox.get(id)?.state === 'completed'),
    );

    const pwned = join(dir, 'b', 'pwned');
    const forged = (msg: Envelope['msg'], proof = toB.proof): Envelope => ({
      ...toB,
      msg,
      ...(proof !== undefined && { proof }),
    });
    const attacks: [string, Envelope][] = [
      [
        'another command under the batch signature',
        forged({ ...toB.msg, id: newMessageId(), methodArgs: ['sh', '-c', `touch ${pwned}`] }),
      ],
      [
        "c's message readdressed to b with c's path",
        forged({ ...toC.msg, toNode: 'b' }, toC.proof),
      ],
      [
        "a crafted message to b with c's path",
        forged(
          { ...toB.msg, id: newMessageId(), methodArgs: ['sh', '-c', `touch ${pwned}`] },
          toC.proof,
        ),
      ],
    ];
    for (const [what, envelope] of attacks) {
      const res = await attacker.request(
        subjects.node('b', 'REQCliCommand'),
        encodeEnvelope(envelope),
        { timeout: 5000 },
      );
      const ack = decodeAck(res.data);
      assert.equal(ack.status, 'rejected', what);
      assert.match(ack.error ?? '', /bad signature/, what);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(existsSync(pwned), false, 'nothing forged ran');
    assert.equal(b.executor.executed, 1, 'b ran only the genuine request');
  });
}
