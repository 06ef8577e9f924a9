import assert from 'node:assert/strict';
import { test } from 'node:test';
import { envelopeSchema } from '../../src/protocol/envelope.js';
import { fastEnvelope } from '../../src/protocol/fast-envelope.js';
import {
  completeMessage,
  createReply,
  generateIdentity,
  type Message,
  signMessage,
  signMessages,
} from '../../src/protocol/index.js';

// fastEnvelope must never accept what the schema refuses, and must take the common shapes (or it
// buys nothing). Crafted envelopes: every field of a request and of a reply given each of a set of
// hostile values, fields added and removed, and the envelope's own fields broken.

const identity = generateIdentity();

function request(): Message {
  const r = completeMessage(
    {
      toNode: 'web1',
      method: 'REQCliCommand',
      methodArgs: ['sh', '-c', 'true'],
      replyMethod: 'REQNone',
      jobId: '01a23c40-13e7-7033-9c5a-1cd1121e00ea',
      methodTimeout: 10,
      ACKTimeout: 5,
    },
    { fromNode: 'central' },
  );
  assert.ok(r.ok);
  return r.value[0] as Message;
}

function reply(): Message {
  return {
    ...createReply(request(), { fromNode: 'web1', data: ['out\n'] }),
    method: 'REQNone',
    status: 'error',
    exitCode: 3,
    error: 'failed',
    stderr: 'oops',
  };
}

const HOSTILE: unknown[] = [
  undefined,
  null,
  true,
  0,
  -1,
  -0,
  1.5,
  2 ** 53,
  1e21,
  Number.MAX_SAFE_INTEGER,
  '',
  'web1',
  'a\u0000b',
  'web 1',
  'x'.repeat(65),
  'REQCliCommand',
  'REQNope',
  'ok',
  'OK',
  '01a23c40-13e7-7033-9c5a-1cd1121e00ea',
  '01A23C40-13E7-7033-9C5A-1CD1121E00EA',
  [],
  [''],
  ['a', 1],
  [null],
  {},
  { a: 1 },
  ['x'.repeat(10)],
];

const FIELDS = [
  'toNode',
  'toNodes',
  'where',
  'method',
  'methodArgs',
  'replyMethod',
  'replyMethodArgs',
  'ACKTimeout',
  'retries',
  'replyACKTimeout',
  'replyRetries',
  'methodTimeout',
  'replyMethodTimeout',
  'directory',
  'fileName',
  'data',
  'isReply',
  'fromNode',
  'previousMessage',
  'relayViaNode',
  'relayFromNode',
  'relayToNode',
  'relayOriginalMethod',
  'relayReplyMethod',
  'id',
  'createdAt',
  'ttl',
  'expiresAt',
  'jobId',
  'inReplyTo',
  'seq',
  'final',
  'status',
  'exitCode',
  'error',
  'stderr',
  'unknownField',
  '__proto__',
  'constructor',
];

function variants(): unknown[] {
  const out: unknown[] = [];
  for (const base of [request(), reply()]) {
    const env = signMessage(base, identity) as unknown as Record<string, unknown>;
    out.push(env);
    for (const field of FIELDS) {
      for (const value of HOSTILE) {
        const msg: Record<string, unknown> = JSON.parse(JSON.stringify(base));
        if (value === undefined) delete msg[field];
        else Object.defineProperty(msg, field, { value, enumerable: true, writable: true });
        out.push({ ...env, msg });
      }
    }
    for (const key of ['v', 'msg', 'sig', 'signer', 'proof', 'extra', '__proto__']) {
      for (const value of [...HOSTILE, 2, 'L'.padEnd(44, 'A'), ['L'.padEnd(44, 'A')]]) {
        const copy: Record<string, unknown> = { ...env };
        if (value === undefined) delete copy[key];
        else Object.defineProperty(copy, key, { value, enumerable: true, writable: true });
        out.push(copy);
      }
    }
    out.push({ ...env, msg: { ...base, expiresAt: base.createdAt } });
    out.push({ ...env, msg: { ...base, toNode: undefined, where: { os: 'linux' } } });
  }
  // Batch-signed envelopes, as central sends them.
  out.push(...signMessages([request(), request(), request()], identity));
  // And through JSON, as they arrive (own __proto__ keys included).
  return out.flatMap((e) => [e, JSON.parse(JSON.stringify(e) ?? 'null') as unknown]);
}

test('fastEnvelope accepts nothing the envelope schema refuses, and returns what it would', () => {
  let accepted = 0;
  for (const value of variants()) {
    const fast = fastEnvelope(value);
    if (fast === undefined) continue;
    accepted++;
    const schema = envelopeSchema.safeParse(value);
    assert.ok(schema.success, `schema refuses what fastEnvelope took: ${JSON.stringify(value)}`);
    assert.deepEqual(fast, schema.data);
  }
  assert.ok(accepted > 100, `fastEnvelope took ${accepted} of the valid variants`);
});

test('fastEnvelope takes the envelopes nodes and central send', () => {
  for (const env of [
    signMessage(request(), identity),
    signMessage(reply(), identity),
    ...signMessages([request(), request()], identity),
  ]) {
    const wire = JSON.parse(JSON.stringify(env)) as unknown;
    assert.deepEqual(fastEnvelope(wire), wire);
  }
});
