import type * as z from 'zod';
import { configSchema } from './schema.js';
import { schemaAt, shapeOf } from './shape.js';

// Environment variables: ADMIRAL_ + the key in UPPER_SNAKE. `__` separates nesting levels
// (ADMIRAL_LIMITS__MAX_OUTPUT_BYTES); a single `_` works too where the schema leaves no doubt
// (ADMIRAL_BROKER_URL is `broker.url`, ADMIRAL_DATA_DIR is `dataDir`).

export const ENV_PREFIX = 'ADMIRAL_';

/** ADMIRAL_* variables that are not configuration keys (read elsewhere). */
export const ENV_NOT_CONFIG: readonly (string | RegExp)[] = [
  'ADMIRAL_GLOBAL_CONFIG',
  /^ADMIRAL_TEST_/,
  /^ADMIRAL_REQUIRE_/,
];

function camel(words: readonly string[]): string {
  return words
    .map((w, i) =>
      i === 0 ? w.toLowerCase() : w.charAt(0).toUpperCase() + w.slice(1).toLowerCase(),
    )
    .join('');
}

function resolveWords(
  words: readonly string[],
  schema: z.ZodType,
  prefix: readonly string[],
): string[] | undefined {
  const shape = shapeOf(schema);
  if (shape === undefined) return undefined;
  // Longest key first, backtracking: BROKER_URL tries `brokerUrl`, then `broker` + `url`.
  for (let n = words.length; n >= 1; n--) {
    const key = camel(words.slice(0, n));
    const child = Object.hasOwn(shape, key) ? shape[key] : undefined;
    if (child === undefined) continue;
    if (n === words.length) return [...prefix, key];
    const found = resolveWords(words.slice(n), child, [...prefix, key]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The config path an ADMIRAL_* variable sets, or undefined when it names no key. */
export function resolveEnvName(name: string): string[] | undefined {
  if (!name.startsWith(ENV_PREFIX)) return undefined;
  const rest = name.slice(ENV_PREFIX.length);
  if (rest.includes('__')) {
    const path = rest.split('__').map((seg) => camel(seg.split('_').filter((w) => w !== '')));
    return schemaAt(path) === undefined ? undefined : path;
  }
  return resolveWords(
    rest.split('_').filter((w) => w !== ''),
    configSchema(),
    [],
  );
}

export function isNotConfigEnv(name: string): boolean {
  return ENV_NOT_CONFIG.some((p) => (typeof p === 'string' ? p === name : p.test(name)));
}
