import { createRequire } from 'node:module';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DecodeError, PayloadTooLargeError } from './errors.js';
import { checkJsonText, DEFAULT_JSON_LIMITS, type JsonLimits } from './limits.js';

// zstd-napi (a native library) is loaded on first use, not with this module: messages are not
// compressed by default, and loading it cost an idle node 1 MiB of resident memory (3 MiB in a
// bare process; docs/benchmarks.md, "bench/idle"). Node resolves it from node_modules, from the CLI
// bundle too (it is external there).
const requireNative = createRequire(import.meta.url);
let zstdApi: typeof import('zstd-napi') | undefined;
let zstdBinding: typeof import('zstd-napi/binding.js') | undefined;
const zstdLib = (): typeof import('zstd-napi') =>
  (zstdApi ??= requireNative('zstd-napi') as typeof import('zstd-napi'));
const zstd = (): typeof import('zstd-napi/binding.js') =>
  (zstdBinding ??= requireNative('zstd-napi/binding.js') as typeof import('zstd-napi/binding.js'));

// Payload bytes: JSON, optionally compressed. As in Steward (seed 003, "Compression of the Nats
// message payload"), the sender chooses, and the receiver detects the compression by itself: here
// from the magic bytes of gzip (1f 8b) and zstd (28 b5 2f fd); JSON text never starts with either.

export const COMPRESSION = { none: 'none', gzip: 'gzip', zstd: 'zstd' } as const;
export type Compression = (typeof COMPRESSION)[keyof typeof COMPRESSION];

/** Largest decoded payload accepted (16 MiB): anything bigger is refused, however it was sent. */
export const DEFAULT_MAX_DECODED_BYTES = 16 * 1024 * 1024;

export interface DecodeOptions {
  /** Largest payload after decompression, in bytes (default 16 MiB). */
  maxBytes?: number;
  /** Nesting, entry and string limits checked before JSON.parse (default DEFAULT_JSON_LIMITS). */
  limits?: JsonLimits;
  /** What the payload is, for errors ("message", "request"); default "message". */
  what?: string;
}

/** Accepts admiral's names and Steward's `-compression` values (`z` = zstd, `g` = gzip, empty = none). */
export function parseCompression(value: string): Compression {
  switch (value.trim().toLowerCase()) {
    case '':
    case 'none':
      return COMPRESSION.none;
    case 'g':
    case 'gzip':
      return COMPRESSION.gzip;
    case 'z':
    case 'zstd':
      return COMPRESSION.zstd;
    default:
      throw new DecodeError(
        `Expected compression to be one of none, gzip, zstd (or Steward's g, z), got ${JSON.stringify(value)}`,
        value,
      );
  }
}

export function detectCompression(bytes: Uint8Array): Compression {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return COMPRESSION.gzip;
  if (
    bytes.length >= 4 &&
    bytes[0] === 0x28 &&
    bytes[1] === 0xb5 &&
    bytes[2] === 0x2f &&
    bytes[3] === 0xfd
  ) {
    return COMPRESSION.zstd;
  }
  return COMPRESSION.none;
}

export function compress(bytes: Uint8Array, compression: Compression): Uint8Array {
  switch (compression) {
    case COMPRESSION.none:
      return bytes;
    case COMPRESSION.gzip:
      return gzipSync(bytes);
    case COMPRESSION.zstd:
      return zstdLib().compress(bytes);
  }
}

/** Decompresses whatever `detectCompression` finds, never producing more than `maxBytes`. */
export function decompress(bytes: Uint8Array, options: DecodeOptions = {}): Uint8Array {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_DECODED_BYTES;
  const compression = detectCompression(bytes);
  switch (compression) {
    case COMPRESSION.none:
      if (bytes.length > maxBytes) throw new PayloadTooLargeError(maxBytes, compression);
      return bytes;
    case COMPRESSION.gzip:
      try {
        return gunzipSync(bytes, { maxOutputLength: maxBytes });
      } catch (error) {
        if (isTooLarge(error))
          throw new PayloadTooLargeError(maxBytes, compression, { cause: error });
        throw new DecodeError(`gzip payload is corrupt: ${errorText(error)}`, compression, {
          cause: error,
        });
      }
    case COMPRESSION.zstd:
      return zstdDecompressBounded(bytes, maxBytes);
  }
}

/** JSON text of `value`, compressed as asked. */
export function encodeJson(
  value: unknown,
  compression: Compression = COMPRESSION.none,
): Uint8Array {
  return compress(Buffer.from(JSON.stringify(value), 'utf8'), compression);
}

/**
 * The JSON value in `bytes`, decompressed first when compressed. Throws `InputLimitError` when
 * the text is past a depth, entry or string limit (limits.ts), before anything walks it.
 */
export function decodeJson(bytes: Uint8Array, options: DecodeOptions = {}): unknown {
  const compression = detectCompression(bytes);
  const plain = decompress(bytes, options);
  const text = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength).toString('utf8');
  checkJsonText(text, options.what ?? 'message', {
    ...(options.limits ?? DEFAULT_JSON_LIMITS),
    maxBytes: options.maxBytes ?? DEFAULT_MAX_DECODED_BYTES,
  });
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DecodeError(`payload is not JSON: ${errorText(error)}`, compression, {
      cause: error,
    });
  }
}

// zstd-napi's one-shot decompress allocates whatever size the frame header claims, so a hostile
// frame could ask for gigabytes: stream into fixed-size chunks and stop past the limit instead.
function zstdDecompressBounded(bytes: Uint8Array, maxBytes: number): Uint8Array {
  const compression = COMPRESSION.zstd;
  const chunkSize = zstd().dStreamOutSize();
  const dctx = new (zstd().DCtx)();
  const chunks: Buffer[] = [];
  let total = 0;
  let input = bytes;
  let pending = 1; // zstd's hint: 0 once a frame is complete and flushed
  try {
    while (input.length > 0 || pending !== 0) {
      const chunk = Buffer.allocUnsafe(chunkSize);
      const [hint, produced, consumed] = dctx.decompressStream(chunk, input);
      total += produced;
      if (total > maxBytes) throw new PayloadTooLargeError(maxBytes, compression);
      if (produced > 0) chunks.push(chunk.subarray(0, produced));
      input = input.subarray(consumed);
      pending = hint;
      if (produced === 0 && consumed === 0) {
        throw new DecodeError('zstd payload is truncated', compression);
      }
    }
  } catch (error) {
    if (error instanceof PayloadTooLargeError || error instanceof DecodeError) throw error;
    throw new DecodeError(`zstd payload is corrupt: ${errorText(error)}`, compression, {
      cause: error,
    });
  }
  return Buffer.concat(chunks, total);
}

function isTooLarge(error: unknown): boolean {
  return (
    error instanceof RangeError && (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
