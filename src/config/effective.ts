import { Document, isScalar } from 'yaml';
import { DEFAULT_SOURCE, type LoadedConfig } from './load.js';
import { redact } from './redact.js';
import { leafPaths } from './shape.js';

/** What `admiral config show` prints: the effective values, secrets redacted, and their origins. */
export interface EffectiveConfig {
  /** The configuration with secrets replaced by `[redacted]`. */
  readonly values: unknown;
  /** Every key (dotted) → `default` or the file, variable or flag that set it. */
  readonly sources: Readonly<Record<string, string>>;
}

export function effectiveConfig(loaded: LoadedConfig): EffectiveConfig {
  const sources: Record<string, string> = {};
  for (const path of leafPaths()) {
    const key = path.join('.');
    let source = DEFAULT_SOURCE;
    for (let n = path.length; n > 0; n--) {
      const o = loaded.origins.get(path.slice(0, n).join('.'));
      if (o !== undefined) {
        source = o;
        break;
      }
    }
    sources[key] = source;
  }
  return { values: redact(loaded.config), sources };
}

/** The effective configuration as YAML, each value not at its default annotated with its origin. */
export function renderEffectiveConfig(loaded: LoadedConfig): string {
  const { values, sources } = effectiveConfig(loaded);
  const doc = new Document(values);
  for (const [key, source] of Object.entries(sources)) {
    if (source === DEFAULT_SOURCE) continue;
    const node = doc.getIn(key.split('.'), true);
    if (isScalar(node)) node.comment = ` ${source}`;
  }
  return doc.toString();
}
