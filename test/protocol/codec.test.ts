import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';
import {
  COMPRESSION,
  DecodeError,
  decodeJson,
  decompress,
  detectCompression,
  encodeJson,
  PayloadTooLargeError,
  parseCompression,
} from '../../src/protocol/index.js';

const value = { method: 'REQCliCommand', data: ['x'.repeat(2000), 'ünïcode ✓'] };

describe('codec', () => {
  for (const compression of Object.values(COMPRESSION)) {
    test(`a payload round-trips with ${compression} and the receiver detects it by itself`, () => {
      const bytes = encodeJson(value, compression);
      assert.equal(detectCompression(bytes), compression);
      assert.deepEqual(decodeJson(bytes), value);
    });
  }

  test('compression shrinks a repetitive payload', () => {
    const plain = encodeJson(value).length;
    assert.ok(encodeJson(value, 'gzip').length < plain / 4);
    assert.ok(encodeJson(value, 'zstd').length < plain / 4);
  });

  test('payloads compressed by other tools are detected by their magic bytes', () => {
    const json = Buffer.from(JSON.stringify(value));
    assert.deepEqual(decodeJson(gzipSync(json)), value);
    assert.deepEqual(decodeJson(zstdCompress(json)), value);
  });

  for (const compression of ['gzip', 'zstd'] as const) {
    test(`a ${compression} decompression bomb is rejected with a clear error`, () => {
      const bomb = encodeJson({ data: ['a'.repeat(8 * 1024 * 1024)] }, compression);
      assert.ok(bomb.length < 64 * 1024);
      assert.throws(
        () => decompress(bomb, { maxBytes: 1024 * 1024 }),
        (e: unknown) =>
          e instanceof PayloadTooLargeError &&
          e.code === 'ADMIRAL_PAYLOAD_TOO_LARGE' &&
          e.message === `payload exceeds 1048576 bytes after ${compression} decompression`,
      );
    });
  }

  test('an uncompressed payload over the limit is rejected too', () => {
    assert.throws(
      () => decompress(Buffer.alloc(2048, 0x20), { maxBytes: 1024 }),
      PayloadTooLargeError,
    );
  });

  test('corrupt or truncated compressed payloads are decode errors', () => {
    const z = encodeJson(value, 'zstd');
    assert.throws(() => decodeJson(z.subarray(0, z.length - 3)), DecodeError);
    const g = encodeJson(value, 'gzip');
    assert.throws(() => decodeJson(g.subarray(0, g.length - 3)), DecodeError);
    assert.throws(() => decodeJson(Buffer.from('{not json')), DecodeError);
  });

  test("Steward's compression flag values are understood", () => {
    assert.equal(parseCompression('z'), 'zstd');
    assert.equal(parseCompression('g'), 'gzip');
    assert.equal(parseCompression(''), 'none');
    assert.throws(() => parseCompression('lz4'), DecodeError);
  });
});
