// Hides secrets wherever configuration (or anything holding credentials) may be printed or
// logged: `config show`, logs, status output, error messages.

export const REDACTED = '[redacted]';

/** Keys whose value is a secret. Keys naming a file (`nkeySeedFile`) hold a path, not a secret. */
export function isSecretKey(key: string): boolean {
  if (/(File|Path|Dir)$/.test(key)) return false;
  return /^(token|password|passwd|secret|seed|nkeySeed|privateKey|accessKey|accessKeys|credentials)$|(Token|Password|Secret|Seed|PrivateKey|AccessKey)$/.test(
    key,
  );
}

// An nkey seed: `S` + a type letter + base32, 58 characters in all.
const NKEY_SEED = /^S[A-Z][A-Z2-7]{56}$/;
// Credentials in a URL's userinfo: nats://user:pass@host or nats://token@host (comma lists too).
const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)([^/@\s,]+)@/gi;

function redactString(s: string): string {
  if (NKEY_SEED.test(s.trim())) return REDACTED;
  return s.replace(URL_USERINFO, (_m, scheme: string, info: string) => {
    const colon = info.indexOf(':');
    return colon === -1 ? `${scheme}${REDACTED}@` : `${scheme}${info.slice(0, colon)}:${REDACTED}@`;
  });
}

/** A deep copy of `value` with secrets replaced by `[redacted]`. Never mutates its input. */
export function redact<T>(value: T): T {
  return redactValue(value, undefined) as T;
}

function redactValue(value: unknown, key: string | undefined): unknown {
  if (key !== undefined && isSecretKey(key) && value !== undefined && value !== null) {
    return Array.isArray(value) ? value.map(() => REDACTED) : REDACTED;
  }
  if (typeof value === 'string') return redactString(value);
  if (Array.isArray(value)) return value.map((v) => redactValue(v, undefined));
  if (value instanceof Map) {
    return new Map(
      [...value].map(([k, v]) => [k, redactValue(v, typeof k === 'string' ? k : undefined)]),
    );
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, k);
    return out;
  }
  return value;
}

/** What stands for a secret in the process list (short, so the title fits argv's space). */
export const HIDDEN_ARG = '***';

/**
 * argv as the process list may show it: the value of every flag that sets a secret (`--password
 * X`, `--token=X`, `--join X`, `--access-key X`) and the password in a URL's userinfo replaced by
 * `***`. `isSecretFlag` tells, for a flag's name without `--`, whether its value is a secret.
 */
export function redactArgv(
  argv: readonly string[],
  isSecretFlag: (name: string) => boolean,
): string[] {
  const out: string[] = [];
  let hideNext = false;
  for (const arg of argv) {
    if (hideNext) {
      hideNext = false;
      out.push(HIDDEN_ARG);
      continue;
    }
    const flag = /^--([a-z][a-z0-9-]*)(=.*)?$/.exec(arg);
    if (flag !== null && isSecretFlag(flag[1]!)) {
      if (flag[2] === undefined) hideNext = true;
      out.push(flag[2] === undefined ? arg : `--${flag[1]}=${HIDDEN_ARG}`);
      continue;
    }
    out.push(
      arg.replace(URL_USERINFO, (_m, scheme: string, info: string) => {
        const colon = info.indexOf(':');
        return colon === -1
          ? `${scheme}${HIDDEN_ARG}@`
          : `${scheme}${info.slice(0, colon)}:${HIDDEN_ARG}@`;
      }),
    );
  }
  return out;
}
