import { InputLimitError } from './errors.js';

// Depth and size limits on everything decoded from outside (DESIGN.md, "Security by default": a
// bad message never crashes a process). JSON.parse itself is iterative in V8, but what walks its
// result is not: canonical JSON for signing, zod, the yaml package's composer. A message nested
// 10,000 deep overflowed the stack there, so every decoder checks the text first, here, without
// recursion, and refuses what is past a limit with an error that names it.

export interface JsonLimits {
  /** Deepest nesting of arrays and objects (the top-level value is depth 1); default 64. */
  readonly maxDepth: number;
  /** Most items in one array, or members in one object; default 100,000. */
  readonly maxEntries: number;
  /** Longest string value, in characters; default 16 MiB (command output travels in one string). */
  readonly maxStringLength: number;
  /** Longest object key, in characters; default 1,024. */
  readonly maxKeyLength: number;
  /** Largest text, in bytes (UTF-8); default 16 MiB. */
  readonly maxBytes: number;
}

export const DEFAULT_JSON_LIMITS: JsonLimits = Object.freeze({
  maxDepth: 64,
  maxEntries: 100_000,
  maxStringLength: 16 * 1024 * 1024,
  maxKeyLength: 1024,
  maxBytes: 16 * 1024 * 1024,
});

/** Limits with `overrides` applied over the defaults. */
export function jsonLimits(overrides: Partial<JsonLimits> = {}): JsonLimits {
  return { ...DEFAULT_JSON_LIMITS, ...overrides };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * Throws `InputLimitError` when the JSON text `text` is past a limit. One pass, no recursion,
 * no allocation per value: it runs before JSON.parse. Text that is not JSON is not judged here
 * (JSON.parse reports it); it can only be refused for a limit, never accepted by mistake.
 * `what` names the thing in the error ("message", "input", "request").
 */
export function checkJsonText(
  text: string,
  what = 'message',
  limits: JsonLimits = DEFAULT_JSON_LIMITS,
): void {
  checkBytes(text, what, limits);
  // Per open container: entries seen so far (commas + 1) and whether it is an object.
  const entries: number[] = [];
  const isObject: boolean[] = [];
  let depth = 0;
  let expectKey = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      i = stringEnd(text, i);
      const length = i - start - 1;
      if (expectKey) {
        if (length > limits.maxKeyLength) {
          throw new InputLimitError(
            what,
            'maxKeyLength',
            limits.maxKeyLength,
            length,
            `${what} has an object key of ${length} characters; the limit is ${limits.maxKeyLength}`,
          );
        }
      } else if (length > limits.maxStringLength) {
        throw new InputLimitError(
          what,
          'maxStringLength',
          limits.maxStringLength,
          length,
          `${what} has a string of ${length} characters; the limit is ${limits.maxStringLength}`,
        );
      }
      expectKey = false;
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      depth++;
      if (depth > limits.maxDepth) throw tooDeep(text, i, depth, what, limits);
      entries.push(0);
      isObject.push(c === OPEN_OBJECT);
      expectKey = c === OPEN_OBJECT;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) {
      if (depth > 0) {
        depth--;
        entries.pop();
        isObject.pop();
      }
      expectKey = false;
    } else if (c === COMMA) {
      if (depth > 0) {
        const count = (entries[depth - 1] ?? 0) + 1;
        entries[depth - 1] = count;
        // `count` commas separate count + 1 entries.
        if (count + 1 > limits.maxEntries) {
          const kind = isObject[depth - 1] ? 'an object of' : 'an array of';
          const unit = isObject[depth - 1] ? 'members' : 'items';
          throw new InputLimitError(
            what,
            'maxEntries',
            limits.maxEntries,
            count + 1,
            `${what} has ${kind} more than ${limits.maxEntries} ${unit}; the limit is ${limits.maxEntries}`,
          );
        }
        expectKey = isObject[depth - 1] === true;
      }
    } else if (c === COLON) {
      expectKey = false;
    }
  }
}

/**
 * Throws `InputLimitError` when the parsed value `value` (from YAML, or any decoder that is not
 * JSON text) is past a limit. Iterative: an explicit stack, never the call stack.
 */
export function checkJsonValue(
  value: unknown,
  what = 'message',
  limits: JsonLimits = DEFAULT_JSON_LIMITS,
): void {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 1 }];
  // YAML aliases can make one node appear many times: visit each object once.
  const seen = new Set<object>();
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop() as { value: unknown; depth: number };
    if (typeof v === 'string') {
      if (v.length > limits.maxStringLength) {
        throw new InputLimitError(
          what,
          'maxStringLength',
          limits.maxStringLength,
          v.length,
          `${what} has a string of ${v.length} characters; the limit is ${limits.maxStringLength}`,
        );
      }
      continue;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (depth > limits.maxDepth) {
      throw new InputLimitError(
        what,
        'maxDepth',
        limits.maxDepth,
        depth,
        `${what} nests more than ${limits.maxDepth} levels deep; the limit is ${limits.maxDepth}`,
      );
    }
    if (seen.has(v)) continue;
    seen.add(v);
    const items = Array.isArray(v) ? (v as unknown[]) : Object.keys(v);
    if (items.length > limits.maxEntries) {
      const [kind, unit] = Array.isArray(v)
        ? ['an array of', 'items']
        : ['an object of', 'members'];
      throw new InputLimitError(
        what,
        'maxEntries',
        limits.maxEntries,
        items.length,
        `${what} has ${kind} ${items.length} ${unit}; the limit is ${limits.maxEntries}`,
      );
    }
    if (Array.isArray(v)) {
      for (const item of v as unknown[]) stack.push({ value: item, depth: depth + 1 });
      continue;
    }
    for (const key of items as string[]) {
      if (key.length > limits.maxKeyLength) {
        throw new InputLimitError(
          what,
          'maxKeyLength',
          limits.maxKeyLength,
          key.length,
          `${what} has an object key of ${key.length} characters; the limit is ${limits.maxKeyLength}`,
        );
      }
      stack.push({ value: (v as Record<string, unknown>)[key], depth: depth + 1 });
    }
  }
}

/** `JSON.parse(text)` after `checkJsonText`: the only way wire JSON should be parsed. */
export function parseJsonText(
  text: string,
  what = 'message',
  limits: JsonLimits = DEFAULT_JSON_LIMITS,
): unknown {
  checkJsonText(text, what, limits);
  return JSON.parse(text) as unknown;
}

/** `parseJsonText` of UTF-8 bytes. */
export function parseJsonBytes(
  bytes: Uint8Array,
  what = 'message',
  limits: JsonLimits = DEFAULT_JSON_LIMITS,
): unknown {
  if (bytes.byteLength > limits.maxBytes) throw tooLarge(bytes.byteLength, what, limits);
  return parseJsonText(
    Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
    what,
    limits,
  );
}

/**
 * Throws `InputLimitError` when YAML text could nest past `maxDepth`. The yaml package composes
 * recursively, and block nesting a few thousand levels deep exhausts memory while it builds its
 * indentation patterns (a fatal error no catch can stop), so the text is bounded before parsing.
 * The estimate errs on the side of depth: increasing indentation levels, plus `- ` entries that
 * open on the same line, plus flow brackets (counted inside quotes too).
 */
export function checkYamlText(
  text: string,
  what = 'input',
  limits: JsonLimits = DEFAULT_JSON_LIMITS,
): void {
  checkBytes(text, what, limits);
  const indents: number[] = [];
  let flow = 0;
  let deepest = 0;
  let lineStart = 0;
  const n = text.length;
  while (lineStart <= n) {
    let end = text.indexOf('\n', lineStart);
    if (end === -1) end = n;
    let i = lineStart;
    while (i < end && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09)) i++;
    if (i < end && text.charCodeAt(i) !== 0x23 /* # */) {
      const indent = i - lineStart;
      while (indents.length > 0 && (indents[indents.length - 1] as number) > indent) indents.pop();
      if (indents.length === 0 || (indents[indents.length - 1] as number) < indent) {
        indents.push(indent);
      }
      // `- - x` opens a sequence per dash on one line.
      let dashes = 0;
      while (i + 1 < end && text.charCodeAt(i) === 0x2d && text.charCodeAt(i + 1) === 0x20) {
        dashes++;
        i += 2;
        while (i < end && text.charCodeAt(i) === 0x20) i++;
      }
      for (let j = i; j < end; j++) {
        const c = text.charCodeAt(j);
        if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
          flow++;
          deepest = Math.max(deepest, indents.length + dashes + flow);
        } else if ((c === CLOSE_ARRAY || c === CLOSE_OBJECT) && flow > 0) flow--;
      }
      deepest = Math.max(deepest, indents.length + dashes + flow);
      if (deepest > limits.maxDepth) {
        throw new InputLimitError(
          what,
          'maxDepth',
          limits.maxDepth,
          deepest,
          `${what} nests more than ${limits.maxDepth} levels deep (YAML, line ${lineNumber(text, lineStart)}); the limit is ${limits.maxDepth}`,
        );
      }
    }
    lineStart = end + 1;
  }
}

/** The index of the quote that closes the string opened at `open` (text.length if none). */
function stringEnd(text: string, open: number): number {
  let at = open;
  for (;;) {
    // indexOf runs natively: a 10 MiB string of command output costs what JSON.parse costs.
    at = text.indexOf('"', at + 1);
    if (at === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

function checkBytes(text: string, what: string, limits: JsonLimits): void {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: only count bytes when it could matter.
  if (text.length * 3 <= limits.maxBytes) return;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limits.maxBytes) throw tooLarge(bytes, what, limits);
}

function tooLarge(bytes: number, what: string, limits: JsonLimits): InputLimitError {
  return new InputLimitError(
    what,
    'maxBytes',
    limits.maxBytes,
    bytes,
    `${what} is ${bytes} bytes; the limit is ${limits.maxBytes}`,
  );
}

function tooDeep(
  text: string,
  at: number,
  depth: number,
  what: string,
  limits: JsonLimits,
): InputLimitError {
  // Count on to the deepest point, for an error that says how deep the input goes.
  let deepest = depth;
  let d = depth;
  for (let i = at + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) deepest = Math.max(deepest, ++d);
    else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) d--;
  }
  return new InputLimitError(
    what,
    'maxDepth',
    limits.maxDepth,
    deepest,
    `${what} nests ${deepest} levels deep; the limit is ${limits.maxDepth}`,
  );
}

function lineNumber(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}
