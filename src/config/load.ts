import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as z from 'zod';
import { ConfigError, type ConfigIssue, describeValue } from './errors.js';
import { deepFreeze } from './freeze.js';
import {
  type Entry,
  envEntries,
  findGlobalConfigFile,
  flagEntries,
  mergeEntries,
  readConfigFile,
} from './layers.js';
import { isSecretKey, REDACTED } from './redact.js';
import { configEnv } from './secret-env.js';
import { type Config, configSchema } from './schema.js';
import { schemaAt, shapeOf } from './shape.js';

/** The node's own config file inside its data dir (written on first start). */
export const NODE_CONFIG_FILE = 'config.yaml';
export const GLOBAL_CONFIG_DIR = '/etc/admiral';
export const DEFAULT_SOURCE = 'default';

export interface LoadConfigOptions {
  /** Environment to read ADMIRAL_* from; default `process.env` and the secrets withheld from it. */
  env?: Readonly<Record<string, string | undefined>>;
  /** `--config FILE`: takes the place of `<dataDir>/config.yaml`; must exist. */
  configFile?: string;
  /** Flags given, keyed by dotted config key (see `flagsFromOptions`). */
  flags?: Readonly<Record<string, unknown>>;
  /** Folder searched for the global file; default /etc/admiral. */
  globalConfigDir?: string;
  /** Reject ADMIRAL_* variables that name no key instead of warning; default false. */
  strictEnv?: boolean;
}

export interface LoadedConfig {
  /** Validated and deeply frozen. */
  readonly config: Config;
  /** Dotted key → where its value came from; keys not listed have their default. */
  readonly origins: ReadonlyMap<string, string>;
  /** Config files read, lowest precedence first. */
  readonly files: readonly string[];
  /** Things worth logging that are not errors (e.g. an ADMIRAL_* variable that names no key). */
  readonly warnings: readonly string[];
}

/**
 * Builds the configuration from its layers, lowest first: defaults < global file < `--config`
 * file (or `<dataDir>/config.yaml`) < ADMIRAL_* environment < flags. Validates once; throws a
 * `ConfigError` naming every bad key and the layer it came from.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? configEnv();
  const files: string[] = [];
  const warnings: string[] = [];

  const globalFile = findGlobalConfigFile(env, options.globalConfigDir ?? GLOBAL_CONFIG_DIR);
  const globalEntries = globalFile === undefined ? [] : readConfigFile(globalFile);
  if (globalFile !== undefined) files.push(globalFile);

  const unknownEnv: string[] = [];
  const fromEnv = envEntries(env, unknownEnv);
  const fromFlags = flagEntries(options.flags ?? {});

  let configFile = options.configFile;
  if (configFile === undefined) {
    // The node's own file lives in its data dir, so find the data dir from the other layers.
    const dataDir = lastValue([...globalEntries, ...fromEnv, ...fromFlags], 'dataDir');
    const candidate = join(
      typeof dataDir === 'string' ? dataDir : (defaultAt(['dataDir']) as string),
      NODE_CONFIG_FILE,
    );
    if (existsSync(candidate)) configFile = candidate;
  }
  const fileEntries = configFile === undefined ? [] : readConfigFile(configFile);
  if (configFile !== undefined) files.push(configFile);

  const issues: ConfigIssue[] = unknownEnv.map((name) => ({
    key: '',
    layer: `env ${name}`,
    expected: 'an ADMIRAL_* variable that names a configuration key',
    received: 'an unknown variable',
  }));
  if (options.strictEnv === true && issues.length > 0) throw new ConfigError(issues);
  for (const name of unknownEnv) warnings.push(`ignored ${name}: it names no configuration key`);

  const { data, origins } = mergeEntries([
    ...globalEntries,
    ...fileEntries,
    ...fromEnv,
    ...fromFlags,
  ]);
  const config = validate(data, origins);
  return { config, origins, files, warnings };
}

/** Validates merged input and freezes the result; errors name each key's layer. */
export function validate(data: unknown, origins: ReadonlyMap<string, string>): Config {
  const result = configSchema().safeParse(data);
  if (!result.success) {
    throw new ConfigError(result.error.issues.flatMap((i) => toIssues(i, data, origins)));
  }
  return deepFreeze(result.data) as Config;
}

function lastValue(entries: readonly Entry[], key: string): unknown {
  let v: unknown;
  for (const e of entries) if (e.path.join('.') === key) v = e.value;
  return v;
}

function defaultAt(path: string[]): unknown {
  const schema = schemaAt(path);
  return schema === undefined ? undefined : schema.safeParse(undefined).data;
}

function originOf(path: readonly string[], origins: ReadonlyMap<string, string>): string {
  for (let n = path.length; n > 0; n--) {
    const o = origins.get(path.slice(0, n).join('.'));
    if (o !== undefined) return o;
  }
  return DEFAULT_SOURCE;
}

function valueAt(data: unknown, path: readonly string[]): unknown {
  let v = data;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  const dist = (a: string, b: string): number => {
    const d = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = d[0] as number;
      d[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const tmp = d[j] as number;
        d[j] = Math.min(
          (d[j] as number) + 1,
          (d[j - 1] as number) + 1,
          prev + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1),
        );
        prev = tmp;
      }
    }
    return d[b.length] as number;
  };
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const dd = dist(word, c);
    if (dd < bestD) {
      best = c;
      bestD = dd;
    }
  }
  return best;
}

function toIssues(
  issue: z.core.$ZodIssue,
  data: unknown,
  origins: ReadonlyMap<string, string>,
): ConfigIssue[] {
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const shape = shapeOf(schemaAt(path) ?? configSchema()) ?? {};
    const known = Object.keys(shape);
    return issue.keys.map((k) => {
      const hint = closest(k, known);
      const where = path.length === 0 ? 'at the top level' : `in \`${path.join('.')}\``;
      return {
        key: [...path, k].join('.'),
        layer: originOf([...path, k], origins),
        expected:
          known.length === 0
            ? `absent (no keys are defined ${where} yet)`
            : `a known key${hint === undefined ? '' : ` (did you mean \`${[...path, hint].join('.')}\`?)`}; keys ${where}: ${known.join(', ')}`,
        received: 'an unknown key',
      };
    });
  }
  const received = valueAt(data, path);
  const last = path[path.length - 1] ?? '';
  return [
    {
      key: path.join('.'),
      layer: originOf(path, origins),
      expected: expectedText(issue),
      received:
        isSecretKey(last) && received !== undefined
          ? `\`${REDACTED}\` (${typeof received})`
          : describeValue(received),
    },
  ];
}

function expectedText(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'int') return 'an integer';
      return issue.expected === 'array' || issue.expected === 'object'
        ? `an ${issue.expected}`
        : `a ${issue.expected}`;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small': {
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'a non-empty string';
      const op = issue.inclusive === false ? '>' : '>=';
      return `a ${issue.origin} ${op} ${String(issue.minimum)}`;
    }
    case 'too_big': {
      const op = issue.inclusive === false ? '<' : '<=';
      return `a ${issue.origin} ${op} ${String(issue.maximum)}`;
    }
    case 'not_multiple_of':
      return issue.divisor === 1 ? 'an integer' : `a multiple of ${String(issue.divisor)}`;
    default:
      return issue.message;
  }
}
