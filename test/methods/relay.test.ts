import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { relay, wrapForRelay } from '../../src/methods/relay.js';
import { newMessageId } from '../../src/protocol/id.js';
import { assertMessage, type Message } from '../../src/protocol/message.js';
import { makeContext, tempDir } from './context.js';
import { fakeServices } from './services.js';

// Steward's relay example (seed 003, "REQRelay"), as node1 submits it.
function stewardRelayExample(): Message {
  const now = Date.now();
  return assertMessage({
    id: newMessageId(now),
    fromNode: 'node9',
    createdAt: now,
    expiresAt: now + 60_000,
    directory: '/var/tail-logs/',
    fileName: 'my-wifi.log',
    toNode: 'node1',
    relayViaNode: 'central',
    relayReplyMethod: 'REQToConsole',
    methodArgs: ['bash', '-c', 'tail -f /var/log/wifi.log'],
    method: 'REQCliCommandCont',
    replyMethod: 'REQToFileAppend',
    ACKTimeout: 5,
    retries: 3,
    replyACKTimeout: 5,
    replyRetries: 3,
    methodTimeout: 10,
  });
}

describe('REQRelay', () => {
  test('step 1: a message with relayViaNode leaves for the relay node as REQRelay', () => {
    const msg = stewardRelayExample();
    const wrapped = wrapForRelay(msg, 'node9');
    assert.equal(wrapped.toNode, 'central');
    assert.equal(wrapped.method, 'REQRelay');
    assert.equal(wrapped.relayToNode, 'node1');
    assert.equal(wrapped.relayOriginalMethod, 'REQCliCommandCont');
    assert.equal(wrapped.relayFromNode, 'node9');
    assert.equal(wrapped.id, msg.id, 'the operator keeps the id it was given');
    assert.equal(wrapForRelay(msg, 'central'), msg, 'the relay node itself does not wrap again');
  });

  test('steps 2 and 5: the relay node sends the original on and forwards each reply to the origin', async (t) => {
    const dir = await tempDir(t);
    const services = fakeServices('central');
    const wrapped = wrapForRelay(stewardRelayExample(), 'node9');
    const first = makeContext(dir, { method: 'REQRelay', message: wrapped });
    const out = await relay.run({ ...first, nodeName: 'central', services });
    assert.equal(out.deferred, true, 'no reply until the result comes back');
    const [sent] = services.submitted;
    assert.ok(sent);
    assert.equal(sent.message['toNode'], 'node1');
    assert.equal(sent.message['method'], 'REQCliCommandCont');
    assert.equal(sent.message['replyMethod'], 'REQRelay');
    assert.deepEqual(sent.message['methodArgs'], ['bash', '-c', 'tail -f /var/log/wifi.log']);

    // node1's replies (a stream chunk, then the final one) arrive at central as REQRelay.
    for (const [seq, final, data] of [
      [0, false, 'line one\n'],
      [1, true, ''],
    ] as const) {
      const now = Date.now();
      const reply = assertMessage({
        id: newMessageId(now),
        fromNode: 'node1',
        toNode: 'central',
        createdAt: now,
        expiresAt: now + 60_000,
        method: 'REQRelay',
        inReplyTo: sent.id,
        directory: '/var/tail-logs/',
        fileName: 'my-wifi.log',
        data: [data],
        seq,
        final,
        status: 'ok',
      });
      const ctx = makeContext(dir, {
        method: 'REQRelay',
        inReplyTo: sent.id,
        data,
        directory: '/var/tail-logs/',
        fileName: 'my-wifi.log',
        message: reply,
      });
      const r = await relay.run({ ...ctx, nodeName: 'central', services });
      assert.equal(r.deferred, true);
    }
    const copies = services.submitted.slice(1).map((s) => s.message);
    assert.equal(copies.length, 2);
    for (const c of copies) {
      assert.equal(c['toNode'], 'node9');
      assert.equal(c['method'], 'REQToConsole', "the origin's relayReplyMethod");
      assert.equal(c['inReplyTo'], wrapped.id);
    }
    assert.deepEqual(
      copies.map((c) => [c['seq'], c['final'], c['data']]),
      [
        [0, false, ['line one\n']],
        [1, true, ['']],
      ],
    );
    // Steward step 5: the original replyMethod ran on the relay node too.
    assert.equal(await readFile(join(dir, 'var/tail-logs/my-wifi.log'), 'utf8'), 'line one\n');
    assert.deepEqual(
      await readdir(join(dir, 'relay')),
      [],
      'the link is dropped after the final reply',
    );
  });
});
