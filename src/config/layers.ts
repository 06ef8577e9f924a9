import { existsSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ENV_PREFIX, isNotConfigEnv, resolveEnvName } from './env.js';
import { ConfigError, describeValue } from './errors.js';
import { flagForKey } from './flags.js';
import { coerce } from './shape.js';

// A layer is a list of (key path, value, where it came from). Layers are merged in order, later
// ones winning key by key, and the origin of each key is kept for error messages and `config show`.

export interface Entry {
  readonly path: readonly string[];
  readonly value: unknown;
  /** `file /etc/admiral/config.yaml`, `env ADMIRAL_DATA_DIR`, `flag --broker`. */
  readonly source: string;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Leaves of a nested object; arrays and empty objects are leaves. */
export function flatten(value: unknown, source: string, prefix: string[] = []): Entry[] {
  if (!isPlainObject(value) || (Object.keys(value).length === 0 && prefix.length > 0)) {
    return [{ path: prefix, value, source }];
  }
  const out: Entry[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (FORBIDDEN_KEYS.has(k)) {
      throw new ConfigError([
        {
          key: [...prefix, k].join('.'),
          layer: source,
          expected: 'a configuration key',
          received: 'a reserved name',
        },
      ]);
    }
    out.push(...flatten(v, source, [...prefix, k]));
  }
  return out;
}

/** Reads a JSON or YAML config file (by extension; anything else is read as YAML, a JSON superset). */
export function readConfigFile(file: string): Entry[] {
  const source = `file ${file}`;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new ConfigError(
      [
        {
          key: '',
          layer: source,
          expected: 'a readable file',
          received: code === 'ENOENT' ? 'no such file' : `error ${code}`,
        },
      ],
      { cause: err },
    );
  }
  let data: unknown;
  try {
    data = extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(
      [
        {
          key: '',
          layer: source,
          expected: 'valid JSON or YAML',
          received: `a syntax error: ${(err as Error).message.split('\n')[0]}`,
        },
      ],
      { cause: err },
    );
  }
  if (data === null || data === undefined) return [];
  if (!isPlainObject(data)) {
    throw new ConfigError([
      {
        key: '',
        layer: source,
        expected: 'a mapping of keys to values',
        received: describeValue(data),
      },
    ]);
  }
  return flatten(data, source);
}

/**
 * The global file: `ADMIRAL_GLOBAL_CONFIG` when set (it must exist), else `config.json` or
 * `config.yaml`/`config.yml` in `dir` (default /etc/admiral); two of them at once is an error.
 */
export function findGlobalConfigFile(
  env: Readonly<Record<string, string | undefined>>,
  dir: string,
): string | undefined {
  const explicit = env.ADMIRAL_GLOBAL_CONFIG;
  if (explicit !== undefined && explicit !== '') {
    if (!existsSync(explicit)) {
      throw new ConfigError([
        {
          key: '',
          layer: 'env ADMIRAL_GLOBAL_CONFIG',
          expected: 'the path of an existing file',
          received: `\`${explicit}\`, which does not exist`,
        },
      ]);
    }
    return explicit;
  }
  const found = ['config.json', 'config.yaml', 'config.yml']
    .map((f) => join(dir, f))
    .filter((f) => existsSync(f));
  if (found.length > 1) {
    throw new ConfigError([
      {
        key: '',
        layer: `folder ${dir}`,
        expected: 'one global config file',
        received: found.join(' and '),
      },
    ]);
  }
  return found[0];
}

/** ADMIRAL_* variables as entries. Names that match no key go to `unknown`. */
export function envEntries(
  env: Readonly<Record<string, string | undefined>>,
  unknown: string[],
): Entry[] {
  const out: Entry[] = [];
  for (const name of Object.keys(env).sort()) {
    const raw = env[name];
    if (!name.startsWith(ENV_PREFIX) || raw === undefined || isNotConfigEnv(name)) continue;
    const path = resolveEnvName(name);
    if (path === undefined) {
      unknown.push(name);
      continue;
    }
    out.push({ path, value: coerce(path, raw), source: `env ${name}` });
  }
  return out;
}

/** Flags keyed by dotted config key (see `flagsFromOptions`). */
export function flagEntries(flags: Readonly<Record<string, unknown>>): Entry[] {
  const out: Entry[] = [];
  for (const [key, value] of Object.entries(flags)) {
    if (value === undefined) continue;
    const path = key.split('.');
    const flag = flagForKey(key);
    const source = flag === undefined ? `flag for ${key}` : `flag ${flag}`;
    if (isPlainObject(value)) out.push(...flatten(value, source, path));
    else out.push({ path, value: coerce(path, value), source });
  }
  return out;
}

/** Merges entries in order into one object; returns it with each key path's origin. */
export function mergeEntries(entries: readonly Entry[]): {
  data: Record<string, unknown>;
  origins: Map<string, string>;
} {
  const data: Record<string, unknown> = {};
  const origins = new Map<string, string>();
  for (const e of entries) {
    if (e.path.length === 0) continue;
    let node = data;
    for (const key of e.path.slice(0, -1)) {
      const next = node[key];
      if (!isPlainObject(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    const last = e.path[e.path.length - 1] as string;
    node[last] = e.value;
    const dotted = e.path.join('.');
    // A value set on a whole section replaces what earlier layers set inside it.
    for (const k of [...origins.keys()]) if (k.startsWith(`${dotted}.`)) origins.delete(k);
    origins.set(dotted, e.source);
  }
  return { data, origins };
}
