import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { ConfigError } from './errors.js';
import { flagEntries, flatten, mergeEntries } from './layers.js';
import { NODE_CONFIG_FILE, validate } from './load.js';
import { configSchema } from './schema.js';

// Steward's rule: a default config file is written on first start, and every value given as a
// flag is written into it, so the next start without flags runs with the same settings.
// admiral writes the defaults as comments (so a newer admiral's defaults still apply) and the
// flags as values; later flags are merged into the file, keeping the operator's comments.

/**
 * Keys never written back: the file lives inside the data dir, so naming it there is circular;
 * a join token admits a node once and is a credential, so it is never written down.
 */
export const NOT_PERSISTED: ReadonlySet<string> = new Set(['dataDir', 'join.token']);

export interface DefaultFileResult {
  readonly file: string;
  /** True when this call created the file. */
  readonly created: boolean;
  /** Keys written from the flags, dotted. */
  readonly persisted: readonly string[];
}

const HEADER = `# admiral node configuration, written on first start.
# Precedence: defaults < /etc/admiral/config.{json,yaml} < this file < ADMIRAL_* env < flags.
# Flags given on the command line are written here and become this node's settings for the
# next start. Defaults are shown commented out; see docs/configuration.md for every key.
`;

/**
 * Writes `<dataDir>/config.yaml` if it does not exist (defaults as comments), then writes the
 * given flags (keyed by dotted config key, see `flagsFromOptions`) into it. The file's content is
 * validated before it is written; the write is atomic (temp file + rename) and mode 0600, since
 * flags may carry credentials.
 */
export function writeDefaultConfigFile(
  dataDir: string,
  flagsGiven: Readonly<Record<string, unknown>> = {},
): DefaultFileResult {
  const file = join(dataDir, NODE_CONFIG_FILE);
  const entries = flagEntries(flagsGiven).filter((e) => !NOT_PERSISTED.has(e.path.join('.')));
  const created = !existsSync(file);
  if (!created && entries.length === 0) return { file, created, persisted: [] };

  const doc = parseDocument(created ? '' : readFileSync(file, 'utf8'));
  const syntax = doc.errors[0];
  if (syntax !== undefined) {
    throw new ConfigError([
      {
        key: '',
        layer: `file ${file}`,
        expected: 'valid YAML',
        received: `a syntax error: ${syntax.message.split('\n')[0]}`,
      },
    ]);
  }
  for (const e of entries) doc.setIn(e.path, e.value);

  // Validate what the file will hold, so a bad flag never lands in it.
  const { data, origins } = mergeEntries(flatten(doc.toJS() ?? {}, `file ${file}`));
  validate(data, origins);

  const body = entries.length === 0 && created ? '' : doc.toString();
  const text = created ? `${HEADER}${commentedDefaults()}\n${body}` : body;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, file);
  return { file, created, persisted: entries.map((e) => e.path.join('.')) };
}

/**
 * Removes a key (dotted, e.g. `join.token`) from `<dataDir>/config.yaml`, keeping the rest and
 * the operator's comments; the write is atomic and mode 0600. True when the key was there.
 */
export function removeFromConfigFile(dataDir: string, key: string): boolean {
  const file = join(dataDir, NODE_CONFIG_FILE);
  if (!existsSync(file)) return false;
  const doc = parseDocument(readFileSync(file, 'utf8'));
  const path = key.split('.');
  if (doc.errors.length > 0 || !doc.hasIn(path)) return false;
  doc.deleteIn(path);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, doc.toString(), { mode: 0o600 });
  renameSync(tmp, file);
  return true;
}

function commentedDefaults(): string {
  const defaults = configSchema().parse({});
  return stringify(defaults)
    .trimEnd()
    .split('\n')
    .map((l) => `# ${l}`)
    .join('\n')
    .concat('\n');
}
