import { createHash, timingSafeEqual } from 'node:crypto';
import { AccessDeniedError } from './errors.js';

// bpbroker's access keys: a registry name pattern or an extension module may require a key;
// a request without it is refused before anything is looked up, so the refusal says nothing
// about whether the entry exists. Names no rule matches are open.

export interface AccessKeyRules {
  readonly services: readonly { readonly pattern: string; readonly key: string }[];
  readonly extensions: readonly { readonly module: string; readonly key: string }[];
}

interface Rule {
  readonly test: (name: string) => boolean;
  readonly digest: Buffer;
}

const digest = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest();

/** `*` matches any run of characters (also none); everything else is literal. */
export function globToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 's');
}

export class AccessKeys {
  readonly #services: Rule[];
  readonly #extensions: Rule[];

  constructor(rules: AccessKeyRules) {
    this.#services = rules.services.map((r) => {
      const re = globToRegExp(r.pattern);
      return { test: (n: string) => re.test(n), digest: digest(r.key) };
    });
    this.#extensions = rules.extensions.map((r) => ({
      test: (m: string) => m === r.module,
      digest: digest(r.key),
    }));
  }

  /** Whether `key` opens the registry name `name` (true when no rule covers it). */
  allowsService(name: string, key: string | undefined): boolean {
    return allows(this.#services, name, key);
  }

  /** Whether `key` opens extension module `module` (true when no rule covers it). */
  allowsExtension(module: string, key: string | undefined): boolean {
    return allows(this.#extensions, module, key);
  }

  /** Throws `AccessDeniedError` unless `key` opens `name`. */
  checkService(name: string, key: string | undefined): void {
    if (!this.allowsService(name, key)) throw new AccessDeniedError();
  }

  checkExtension(module: string, key: string | undefined): void {
    if (!this.allowsExtension(module, key)) throw new AccessDeniedError();
  }
}

/** Open when no rule matches; else the key must equal the key of one matching rule. */
function allows(rules: readonly Rule[], name: string, key: string | undefined): boolean {
  const matching = rules.filter((r) => r.test(name));
  if (matching.length === 0) return true;
  if (key === undefined) return false;
  const given = digest(key);
  // Compare against every matching rule so the time taken does not say which one matched.
  let ok = false;
  for (const r of matching) ok = timingSafeEqual(r.digest, given) || ok;
  return ok;
}
