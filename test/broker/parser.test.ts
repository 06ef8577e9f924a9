import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  OpKind,
  type ParsedOp,
  ParseErrorKind,
  Parser,
  type ParserSink,
  parseSize,
} from '../../src/broker/parser.js';

interface Seen {
  kind: OpKind;
  subject: string;
  reply: string;
  queue: string;
  sid: string;
  size: number;
  hdr: number;
  max: number;
  arg: string;
  payload: string;
}

function collect(limits = { maxControlLine: 4096, maxPayload: 1024 * 1024 }, headers = true) {
  const ops: Seen[] = [];
  const errors: ParseErrorKind[] = [];
  const sink: ParserSink = {
    onOp(op: ParsedOp) {
      ops.push({
        kind: op.kind,
        subject: op.subject,
        reply: op.reply,
        queue: op.queue,
        sid: op.sid,
        size: op.size,
        hdr: op.hdr,
        max: op.max,
        arg: op.arg,
        payload:
          op.kind === OpKind.Pub || op.kind === OpKind.Hpub ? op.payload.toString('latin1') : '',
      });
    },
    onParseError(kind) {
      errors.push(kind);
    },
  };
  const parser = new Parser(sink, limits);
  parser.headers = headers;
  return { parser, ops, errors };
}

const STREAM = Buffer.from(
  'CONNECT {"verbose":false}\r\n' +
    'PING\r\nPONG\r\n' +
    'SUB foo 1\r\nSUB bar q 2\r\n' +
    'PUB foo 5\r\nhello\r\n' +
    'PUB foo reply.x 3\r\nabc\r\n' +
    'PUB empty 0\r\n\r\n' +
    'HPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n' +
    'UNSUB 1\r\nUNSUB 2 10\r\n' +
    '+OK\r\n',
);

function summary(ops: Seen[]): string[] {
  return ops.map((o) => {
    switch (o.kind) {
      case OpKind.Pub:
      case OpKind.Hpub:
        return `${o.kind === OpKind.Pub ? 'PUB' : 'HPUB'} ${o.subject} ${o.reply} ${o.hdr} ${o.size} ${JSON.stringify(o.payload)}`;
      case OpKind.Sub:
        return `SUB ${o.subject} ${o.queue} ${o.sid}`;
      case OpKind.Unsub:
        return `UNSUB ${o.sid} ${o.max}`;
      case OpKind.Connect:
        return `CONNECT ${o.arg}`;
      default:
        return String(o.kind);
    }
  });
}

describe('parser', () => {
  test('a stream of every operation parses to the expected operations', () => {
    const { parser, ops, errors } = collect();
    parser.feed(STREAM);
    assert.deepEqual(errors, []);
    assert.deepEqual(summary(ops), [
      'CONNECT {"verbose":false}',
      String(OpKind.Ping),
      String(OpKind.Pong),
      'SUB foo  1',
      'SUB bar q 2',
      'PUB foo  -1 5 "hello"',
      'PUB foo reply.x -1 3 "abc"',
      'PUB empty  -1 0 ""',
      'HPUB h  12 14 "NATS/1.0\\r\\n\\r\\nhi"',
      'UNSUB 1 -1',
      'UNSUB 2 10',
      String(OpKind.Ok),
    ]);
  });

  test('the same stream split into two chunks at every byte position parses identically', () => {
    const whole = collect();
    whole.parser.feed(STREAM);
    const expected = summary(whole.ops);
    for (let cut = 1; cut < STREAM.length; cut++) {
      const { parser, ops, errors } = collect();
      parser.feed(STREAM.subarray(0, cut));
      parser.feed(STREAM.subarray(cut));
      assert.deepEqual(errors, [], `cut at ${cut}`);
      assert.deepEqual(summary(ops), expected, `cut at ${cut}`);
    }
  });

  test('the same stream fed one byte at a time parses identically', () => {
    const whole = collect();
    whole.parser.feed(STREAM);
    const { parser, ops, errors } = collect();
    for (let i = 0; i < STREAM.length; i++) parser.feed(STREAM.subarray(i, i + 1));
    assert.deepEqual(errors, []);
    assert.deepEqual(summary(ops), summary(whole.ops));
  });

  test('verbs are case-insensitive and arguments may be separated by tabs and runs of spaces', () => {
    const { parser, ops, errors } = collect();
    parser.feed(Buffer.from('pub\tfoo  r\t 2\r\nhi\r\nSuB x\t7\r\nping\r\nunsub 7\n'));
    assert.deepEqual(errors, []);
    assert.deepEqual(summary(ops), [
      'PUB foo r -1 2 "hi"',
      'SUB x  7',
      String(OpKind.Ping),
      'UNSUB 7 -1',
    ]);
  });

  test('a payload shorter than its declared size is an unknown protocol operation', () => {
    const { parser, ops, errors } = collect();
    parser.feed(Buffer.from('PUB foo 3\r\nxxxxx\r\n'));
    assert.deepEqual(ops, []);
    assert.deepEqual(errors, [ParseErrorKind.UnknownOp]);
  });

  test('a payload not followed by CRLF fails as soon as the wrong byte arrives', () => {
    const { parser, errors } = collect();
    parser.feed(Buffer.from('PUB foo 3\r\nabc'));
    assert.deepEqual(errors, []);
    parser.feed(Buffer.from('\n'));
    assert.deepEqual(errors, [ParseErrorKind.UnknownOp]);
  });

  test('an unknown verb, a bare CRLF and MSG from a client are unknown protocol operations', () => {
    for (const input of [
      'FOO\r\n',
      '\r\n',
      'MSG foo 1 1\r\nx\r\n',
      'PUBX foo 1\r\n',
      'UNSUB\r\n',
    ]) {
      const { parser, errors } = collect();
      parser.feed(Buffer.from(input));
      assert.deepEqual(errors, [ParseErrorKind.UnknownOp], input);
    }
  });

  test('wrong argument counts and bad sizes close without an -ERR (BadArgs)', () => {
    for (const input of [
      'PUB foo\r\n',
      'PUB a b c d\r\n',
      'PUB foo x\r\n',
      'PUB foo -1\r\n',
      'SUB foo\r\n',
      'SUB a b c d\r\n',
      'UNSUB 1 2 3\r\n',
      'HPUB foo 2 1\r\n',
    ]) {
      const { parser, errors } = collect();
      parser.feed(Buffer.from(input));
      assert.deepEqual(errors, [ParseErrorKind.BadArgs], input);
    }
  });

  test('a declared size over the maximum payload fails before the body arrives', () => {
    const { parser, errors } = collect({ maxControlLine: 4096, maxPayload: 10 });
    parser.feed(Buffer.from('PUB foo 11\r\n'));
    assert.deepEqual(errors, [ParseErrorKind.MaxPayload]);
  });

  test('a control line over the limit fails, whole or still arriving', () => {
    const long = 'x'.repeat(100);
    for (const input of [`SUB ${long} 1\r\n`, `SUB ${long}`, `CONNECT {"name":"${long}"}\r\n`]) {
      const { parser, errors } = collect({ maxControlLine: 64, maxPayload: 1024 });
      parser.feed(Buffer.from(input));
      assert.deepEqual(errors, [ParseErrorKind.MaxControlLine], input);
    }
  });

  test('HPUB without negotiated headers is refused', () => {
    const { parser, errors } = collect(undefined, false);
    parser.feed(Buffer.from('HPUB foo 2 2\r\n\r\n\r\n'));
    assert.deepEqual(errors, [ParseErrorKind.HeadersNotSupported]);
  });

  test('while CONNECT is required, any other first byte is an authorization violation', () => {
    const { parser, ops, errors } = collect();
    parser.requireConnect = true;
    parser.feed(Buffer.from('P'));
    assert.deepEqual(errors, [ParseErrorKind.AuthViolation]);
    const ok = collect();
    ok.parser.requireConnect = true;
    ok.parser.feed(Buffer.from('connect {}\r\n'));
    assert.deepEqual(ok.errors, []);
    assert.equal(ok.ops[0]?.kind, OpKind.Connect);
    assert.deepEqual(ops, []);
  });

  test('anything after PING up to the newline is ignored, as nats-server does', () => {
    const { parser, ops, errors } = collect();
    parser.feed(Buffer.from('PING x\r\nPINGX\r\n'));
    assert.deepEqual(errors, []);
    assert.deepEqual(summary(ops), [String(OpKind.Ping), String(OpKind.Ping)]);
  });

  test('nothing is parsed after an error', () => {
    const { parser, ops, errors } = collect();
    parser.feed(Buffer.from('BAD\r\nPING\r\n'));
    parser.feed(Buffer.from('PING\r\n'));
    assert.deepEqual(ops, []);
    assert.equal(errors.length, 1);
  });

  test('a repeated PUB line is recognised and yields the same fields after other operations', () => {
    const { parser, ops, errors } = collect();
    parser.feed(
      Buffer.from('PUB a.b r 1\r\nx\r\nSUB zzz 9\r\nPUB a.b r 1\r\ny\r\nPUB a.c r 1\r\nz\r\n'),
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(summary(ops), [
      'PUB a.b r -1 1 "x"',
      'SUB zzz  9',
      'PUB a.b r -1 1 "y"',
      'PUB a.c r -1 1 "z"',
    ]);
  });

  test('turning headers off forgets a remembered HPUB line', () => {
    const { parser, errors } = collect();
    parser.feed(Buffer.from('HPUB h 2 3\r\n\r\nx\r\n'));
    parser.headers = false;
    parser.feed(Buffer.from('HPUB h 2 3\r\n\r\nx\r\n'));
    assert.deepEqual(errors, [ParseErrorKind.HeadersNotSupported]);
  });

  test('sizes parse as nats-server parseSize: digits only, at most nine', () => {
    assert.equal(parseSize('0'), 0);
    assert.equal(parseSize('0042'), 42);
    assert.equal(parseSize('999999999'), 999999999);
    assert.equal(parseSize('1000000000'), -1);
    assert.equal(parseSize(''), -1);
    assert.equal(parseSize('1a'), -1);
    assert.equal(parseSize('-1'), -1);
  });

  test('a payload that arrives in one chunk is a view on that chunk, not a copy', () => {
    let payload: Buffer | null = null;
    const parser = new Parser(
      {
        onOp(op) {
          if (op.kind === OpKind.Pub) payload = op.payload;
        },
        onParseError() {},
      },
      { maxControlLine: 4096, maxPayload: 1024 },
    );
    const chunk = Buffer.from('PUB a 3\r\nabc\r\n');
    parser.feed(chunk);
    assert.ok(payload);
    assert.equal((payload as Buffer).buffer, chunk.buffer);
  });
});
