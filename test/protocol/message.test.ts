import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  completeMessage,
  isMessageId,
  MESSAGE_FIELDS,
  METHOD_NAMES,
  messageJsonSchema,
  parseMessage,
  parseMessageInput,
} from '../../src/protocol/index.js';

const ctx = { fromNode: 'central', now: 1_700_000_000_000 };

function errorsOf(raw: unknown): string[] {
  const r = parseMessageInput(raw);
  assert.equal(r.ok, false, 'expected the message to be rejected');
  return r.ok ? [] : r.errors;
}

describe('message schema', () => {
  test('a wrong type names the field, what was expected and what was received', () => {
    assert.deepEqual(errorsOf({ toNode: 'ship1', method: 'REQCliCommand', methodTimeout: 'ten' }), [
      'Expected `methodTimeout` to be a non-negative integer (seconds), got `"ten"` (string)',
    ]);
  });

  test('a missing method is reported as missing', () => {
    assert.deepEqual(errorsOf({ toNode: 'ship1' }), [
      'Expected `method` to be a method name such as `REQCliCommand`, got nothing (the field is missing)',
    ]);
  });

  test('a message without any target says which fields can name one', () => {
    assert.deepEqual(errorsOf({ method: 'REQHello' }), [
      'Expected one of `toNode`, `toNodes` or `where` to name the target, got none of them',
    ]);
  });

  test('an unknown method is named together with the closest known methods', () => {
    const [err] = errorsOf({ toNode: 'ship1', method: 'REQCliComand' });
    assert.match(
      err ?? '',
      /^Expected `method` to be a known method name \(closest: `REQCliCommand`/,
    );
    assert.match(err ?? '', /got `"REQCliComand"` \(string\)$/);
  });

  test('a bad array element is reported with its index', () => {
    assert.deepEqual(
      errorsOf({ toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['ls', 2] }),
      ['Expected `methodArgs[1]` to be a string, got `2` (number)'],
    );
  });

  test('an unknown field is rejected by name with a suggestion', () => {
    assert.deepEqual(errorsOf({ toNode: 'ship1', method: 'REQHello', fileNmae: 'x' }), [
      'Unknown field `fileNmae`; did you mean `fileName`?',
    ]);
  });

  test('node names that could alter a subject are rejected in toNode', () => {
    for (const bad of ['a.b', 'a*', '>', 'a b', 'x'.repeat(65), '']) {
      const [err] = errorsOf({ toNode: bad, method: 'REQHello' });
      assert.match(err ?? '', /^Expected `toNode` to be a node name/, bad);
    }
  });

  test('negative timeouts are rejected', () => {
    assert.deepEqual(errorsOf({ toNode: 'a', method: 'REQHello', ACKTimeout: -1 }), [
      'Expected `ACKTimeout` to be a non-negative integer (seconds), got `-1` (number)',
    ]);
  });

  test('keys match case-insensitively, as Go encoding/json matches them for Steward', () => {
    const r = parseMessageInput({
      toNode: 'ship2',
      method: 'REQCliCommand',
      replyMethodTimeOut: 10,
      RelayViaNode: 'central',
    });
    assert.ok(r.ok);
    assert.equal(r.value.replyMethodTimeout, 10);
    assert.equal(r.value.relayViaNode, 'central');
  });

  test('the same field given twice in different case is rejected', () => {
    const errors = errorsOf({ toNode: 'a', method: 'REQHello', retries: 1, Retries: 2 });
    assert.deepEqual(errors, ['Field `retries` is given twice, as `retries` and `Retries`']);
  });

  test("Steward's older REQn method spellings are read as the current names", () => {
    const r = parseMessageInput({ toNode: 'a', method: 'REQnCliCommandCont' });
    assert.ok(r.ok);
    assert.equal(r.value.method, 'REQCliCommandCont');
  });

  test('toNodes expands into one message per node, each with its own id', () => {
    const input = parseMessageInput({ toNodes: ['ship1', 'ship2', 'ship1'], method: 'REQHello' });
    assert.ok(input.ok);
    const r = completeMessage(input.value, ctx);
    assert.ok(r.ok);
    assert.deepEqual(
      r.value.map((m) => m.toNode),
      ['ship1', 'ship2'],
    );
    assert.equal('toNodes' in (r.value[0] ?? {}), false);
    assert.notEqual(r.value[0]?.id, r.value[1]?.id);
    for (const m of r.value) assert.ok(isMessageId(m.id));
  });

  test('an id given with several toNodes is rejected, since each copy needs its own', () => {
    const input = parseMessageInput({
      toNodes: ['a', 'b'],
      method: 'REQHello',
      id: '018f3b2e-1d2c-7abc-8def-0123456789ab',
    });
    assert.ok(input.ok);
    const r = completeMessage(input.value, ctx);
    assert.equal(r.ok, false);
  });

  test('completion fills fromNode, createdAt and expiresAt from ttl in seconds', () => {
    const input = parseMessageInput({ toNode: 'a', method: 'REQHello', ttl: 60 });
    assert.ok(input.ok);
    const r = completeMessage(input.value, ctx);
    assert.ok(r.ok);
    const [m] = r.value;
    assert.equal(m?.fromNode, 'central');
    assert.equal(m?.createdAt, ctx.now);
    assert.equal(m?.expiresAt, ctx.now + 60_000);
  });

  test('a message naming another sending node is rejected', () => {
    const input = parseMessageInput({ toNode: 'a', method: 'REQHello', fromNode: 'mallory' });
    assert.ok(input.ok);
    assert.equal(completeMessage(input.value, ctx).ok, false);
  });

  test('ttl and expiresAt together are rejected', () => {
    assert.deepEqual(errorsOf({ toNode: 'a', method: 'REQHello', ttl: 5, expiresAt: 1 }), [
      'Expected either `ttl` or `expiresAt`, got both',
    ]);
  });

  test('a sent message must carry id, fromNode, createdAt and expiresAt', () => {
    const r = parseMessage({ toNode: 'a', method: 'REQHello' });
    assert.equal(r.ok, false);
    const text = r.ok ? '' : r.errors.join('\n');
    for (const f of ['id', 'fromNode', 'createdAt', 'expiresAt'])
      assert.match(text, new RegExp(`\`${f}\``));
  });

  test('a sent message has exactly one of toNode or where', () => {
    const base = {
      id: '018f3b2e-1d2c-7abc-8def-0123456789ab',
      fromNode: 'c',
      createdAt: 1,
      expiresAt: 2,
      method: 'REQHello',
    };
    assert.equal(parseMessage({ ...base, toNode: 'a' }).ok, true);
    assert.equal(parseMessage({ ...base, where: { os: 'linux' } }).ok, true);
    assert.equal(parseMessage({ ...base, toNode: 'a', where: {} }).ok, false);
    assert.equal(parseMessage({ ...base, toNodes: ['a'] }).ok, false);
  });

  test('the JSON Schema is generated from the zod schema and lists every field and method', () => {
    const schema = messageJsonSchema() as {
      properties: Record<string, { enum?: string[] }>;
      additionalProperties: unknown;
    };
    assert.deepEqual(Object.keys(schema.properties).sort(), [...MESSAGE_FIELDS].sort());
    assert.deepEqual(schema.properties['method']?.enum, [...METHOD_NAMES]);
    assert.equal(schema.additionalProperties, false);
    const wire = messageJsonSchema('wire') as { required: string[] };
    assert.deepEqual(
      [...wire.required].sort(),
      ['createdAt', 'expiresAt', 'fromNode', 'id', 'method'].sort(),
    );
  });
});
