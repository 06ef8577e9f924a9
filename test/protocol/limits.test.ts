import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkJsonText,
  checkJsonValue,
  checkYamlText,
  COMPRESSION,
  compress,
  decodeEnvelope,
  generateIdentity,
  InputLimitError,
  jsonLimits,
  parseInput,
} from '../../src/protocol/index.js';
import { signRequest, verifyRequest } from '../../src/protocol/signed-request.js';

// limits.ts: the non-recursive checks every decoder runs before anything walks what it decoded.

const nestedArrays = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

function limitError(fn: () => unknown, limit: InputLimitError['limit'], pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InputLimitError, String(err));
    assert.equal(err.code, 'ADMIRAL_INPUT_LIMIT');
    assert.equal(err.limit, limit);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('checkJsonText', () => {
  test('takes nesting up to the limit and refuses one level more, saying how deep the text goes', () => {
    checkJsonText(nestedArrays(64));
    limitError(
      () => checkJsonText(nestedArrays(65)),
      'maxDepth',
      /^message nests 65 levels deep; the limit is 64$/,
    );
    limitError(() => checkJsonText(nestedArrays(100_000)), 'maxDepth', /nests 100000 levels/);
  });

  test('does not count brackets, commas or quotes inside strings', () => {
    const tricky = JSON.stringify({ s: `${'['.repeat(200)}\\"${',{'.repeat(200)}`, t: ['"]'] });
    checkJsonText(tricky, 'input', jsonLimits({ maxEntries: 2 }));
    // A string that ends in an escaped backslash ends there: the brackets after it count.
    const text = String.raw`["a\\",[[]]]`;
    assert.deepEqual(JSON.parse(text), ['a\\', [[]]]);
    checkJsonText(text, 'input', jsonLimits({ maxDepth: 3 }));
    limitError(() => checkJsonText(text, 'input', jsonLimits({ maxDepth: 2 })), 'maxDepth', /3/);
  });

  test('counts the entries of each array and object, not of the whole text', () => {
    const limits = jsonLimits({ maxEntries: 3 });
    checkJsonText('[[1,2,3],[1,2,3],{"a":1,"b":2,"c":3}]', 'input', limits);
    limitError(
      () => checkJsonText('[1,2,3,4]', 'input', limits),
      'maxEntries',
      /^input has an array of more than 3 items; the limit is 3$/,
    );
    limitError(
      () => checkJsonText('{"a":1,"b":2,"c":3,"d":4}', 'input', limits),
      'maxEntries',
      /an object of more than 3 members/,
    );
  });

  test('limits keys and string values separately', () => {
    const limits = jsonLimits({ maxKeyLength: 4, maxStringLength: 8 });
    checkJsonText('{"abcd":"12345678"}', 'input', limits);
    limitError(
      () => checkJsonText('{"abcde":1}', 'input', limits),
      'maxKeyLength',
      /object key of 5 characters; the limit is 4/,
    );
    limitError(
      () => checkJsonText('{"a":"123456789"}', 'input', limits),
      'maxStringLength',
      /a string of 9 characters; the limit is 8/,
    );
    limitError(
      () => checkJsonText('{"a":1,"abcde":1}', 'input', limits),
      'maxKeyLength',
      /key of 5/,
    );
  });

  test('refuses text larger than maxBytes, counting UTF-8 bytes', () => {
    limitError(
      () => checkJsonText(`"${'é'.repeat(10)}"`, 'input', jsonLimits({ maxBytes: 20 })),
      'maxBytes',
      /input is 22 bytes; the limit is 20/,
    );
  });
});

describe('checkJsonValue and checkYamlText', () => {
  test('a value nested 100,000 deep is refused without overflowing the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    limitError(() => checkJsonValue(deep), 'maxDepth', /nests more than 64 levels deep/);
  });

  test('YAML block, compact and flow nesting past the limit is refused before parsing', () => {
    const block = Array.from({ length: 70 }, (_, i) => `${' '.repeat(i)}- `).join('\n');
    limitError(() => checkYamlText(`${block}x\n`), 'maxDepth', /\(YAML, line \d+\)/);
    limitError(() => checkYamlText(`${'- '.repeat(70)}x\n`), 'maxDepth', /levels deep/);
    limitError(() => checkYamlText(`a: ${nestedArrays(70)}\n`), 'maxDepth', /levels deep/);
    checkYamlText(
      '- toNode: ship1\n  method: REQCliCommand\n  methodArgs:\n    - bash\n    - -c\n',
    );
  });

  test('a YAML alias bomb is refused as input, not expanded', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
      ...Array.from({ length: 8 }, (_, i) => {
        const p = String.fromCharCode(97 + i);
        const n = String.fromCharCode(98 + i);
        return `${n}: &${n} [*${p},*${p},*${p},*${p},*${p},*${p},*${p},*${p},*${p},*${p}]`;
      }),
      'toNode: central',
      'method: REQPing',
    ].join('\n');
    assert.throws(() => parseInput(bomb, { fromNode: 'central' }), /alias/i);
  });
});

describe('decoders run the limits first', () => {
  test('a gzip envelope that nests too deep is refused after decompression, before zod', () => {
    const text = `{"v":1,"msg":{"where":{"a":${nestedArrays(5000)}}}}`;
    const bytes = compress(Buffer.from(text), COMPRESSION.gzip);
    limitError(() => decodeEnvelope(bytes), 'maxDepth', /^message nests 5003 levels deep/);
  });

  test('a signed request whose body nests 10,000 deep is refused before its signature is checked', () => {
    const signed = JSON.stringify(signRequest('jobs', 1, generateIdentity()));
    const raw = signed.replace('"body":1', `"body":${nestedArrays(10_000)}`);
    limitError(
      () => verifyRequest(raw, 'jobs', { has: () => true }),
      'maxDepth',
      /^request nests 10001 levels deep; the limit is 64$/,
    );
  });
});
