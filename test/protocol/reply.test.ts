import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { completeMessage, createReply, parseMessageInput } from '../../src/protocol/index.js';

describe('replies', () => {
  test('a reply goes back to the sender with the reply method and reply-side settings', () => {
    const input = parseMessageInput({
      toNode: 'ship1',
      method: 'REQCliCommand',
      methodArgs: ['uptime'],
      replyMethod: 'REQToFile',
      replyMethodArgs: ['x'],
      replyACKTimeout: 7,
      replyRetries: 2,
      replyMethodTimeout: 9,
      directory: 'out',
      fileName: 'up.log',
      ttl: 60,
    });
    assert.ok(input.ok);
    const done = completeMessage(input.value, { fromNode: 'central', now: 1_000_000 });
    assert.ok(done.ok);
    const request = done.value[0]!;
    const reply = createReply(request, {
      fromNode: 'ship1',
      data: ['up 3 days'],
      now: 2_000_000,
      status: 'ok',
      exitCode: 0,
    });
    assert.deepEqual(
      { ...reply, id: undefined },
      {
        id: undefined,
        fromNode: 'ship1',
        toNode: 'central',
        method: 'REQToFile',
        methodArgs: ['x'],
        ACKTimeout: 7,
        retries: 2,
        methodTimeout: 9,
        directory: 'out',
        fileName: 'up.log',
        status: 'ok',
        exitCode: 0,
        data: ['up 3 days'],
        isReply: true,
        inReplyTo: request.id,
        createdAt: 2_000_000,
        expiresAt: 2_060_000,
      },
    );
  });

  test("a request without replyMethod is answered with Steward's default REQToFileAppend", () => {
    const input = parseMessageInput({ toNode: 'ship1', method: 'REQHello' });
    assert.ok(input.ok);
    const done = completeMessage(input.value, { fromNode: 'central' });
    assert.ok(done.ok);
    assert.equal(
      createReply(done.value[0]!, { fromNode: 'ship1', data: [] }).method,
      'REQToFileAppend',
    );
  });
});
