import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InputSyntaxError, parseInput } from '../../src/protocol/index.js';
import { stewardExamples } from './helpers.js';

const ctx = { fromNode: 'central', now: 1_700_000_000_000 };

describe('operator input', () => {
  test("every message example in Steward's documentation parses unchanged", () => {
    const examples = stewardExamples();
    assert.ok(examples.length >= 20, `found ${examples.length} examples`);
    for (const { name, text } of examples) {
      const r = parseInput(text, ctx);
      assert.deepEqual(r.rejected, [], name);
      assert.ok(r.accepted.length >= 1, name);
    }
  });

  test('a Steward example keeps its values when parsed', () => {
    const text = stewardExamples().find((e) => e.name.startsWith('steward-doc-01'))?.text ?? '';
    const [m] = parseInput(text, ctx).accepted;
    assert.deepEqual(
      { ...m, id: undefined },
      {
        directory: '/var/cli/command_result/',
        fileName: 'some-file-name.result',
        toNode: 'ship1',
        method: 'REQCliCommand',
        methodArgs: ['bash', '-c', 'sleep 5 & tree ./'],
        replyMethod: 'REQToFileAppend',
        ACKTimeout: 5,
        retries: 3,
        replyACKTimeout: 5,
        replyRetries: 3,
        methodTimeout: 10,
        id: undefined,
        fromNode: 'central',
        createdAt: ctx.now,
        expiresAt: ctx.now + 3_600_000,
      },
    );
  });

  test('the toNodes example becomes one message per node', () => {
    const text = stewardExamples().find((e) => e.text.includes('"toNodes": ["central","ship2"]'));
    const r = parseInput(text?.text ?? '', ctx);
    assert.deepEqual(
      r.accepted.map((m) => m.toNode),
      ['central', 'ship2'],
    );
  });

  test('a bad message in an array does not stop the others', () => {
    const r = parseInput(
      JSON.stringify([
        { toNode: 'ship1', method: 'REQHello' },
        { toNode: 'ship1', method: 'REQHello', methodTimeout: 'ten' },
        'not a message',
        { toNode: 'ship2', method: 'REQPing' },
      ]),
      ctx,
    );
    assert.deepEqual(
      r.accepted.map((m) => m.toNode),
      ['ship1', 'ship2'],
    );
    assert.deepEqual(r.rejected, [
      {
        index: 1,
        errors: [
          'Expected `methodTimeout` to be a non-negative integer (seconds), got `"ten"` (string)',
        ],
      },
      { index: 2, errors: ['Expected `message` to be an object, got `"not a message"` (string)'] },
    ]);
  });

  test('a single JSON object is one message', () => {
    const r = parseInput(Buffer.from('{"toNode":"ship1","method":"REQHello"}'), ctx);
    assert.equal(r.accepted.length, 1);
  });

  test('YAML input is read as a list of messages', () => {
    const yaml = [
      '- toNode: ship1',
      '  method: REQCliCommand',
      '  methodArgs: [bash, -c, "tree ./"]',
      '  methodTimeout: 10',
      '- toNode: ship2',
      '  method: REQHello',
      '  methodTimeout: ten',
      '',
    ].join('\n');
    const r = parseInput(yaml, ctx);
    assert.equal(r.accepted.length, 1);
    assert.deepEqual(r.accepted[0]?.methodArgs, ['bash', '-c', 'tree ./']);
    assert.equal(r.rejected[0]?.index, 1);
  });

  test('several YAML documents are several messages', () => {
    const r = parseInput('toNode: a\nmethod: REQHello\n---\ntoNode: b\nmethod: REQHello\n', ctx);
    assert.deepEqual(
      r.accepted.map((m) => m.toNode),
      ['a', 'b'],
    );
  });

  test('a JSON syntax error is reported with its line and column', () => {
    const text = '[\n  {"toNode": "a",\n   "method" "REQHello"}\n]';
    assert.throws(
      () => parseInput(text, ctx),
      (e: unknown) => e instanceof InputSyntaxError && e.line === 3 && e.column === 13,
    );
  });

  test('a YAML syntax error is reported with its line and column', () => {
    const text = 'toNode: a\nmethod: [REQHello\n';
    assert.throws(
      () => parseInput(text, ctx),
      (e: unknown) => e instanceof InputSyntaxError && e.line >= 2 && e.column >= 1,
    );
  });

  test('empty input yields no messages', () => {
    assert.deepEqual(parseInput('  \n', ctx), { accepted: [], rejected: [] });
  });
});
