// Secrets handed to a process in its environment (ADMIRAL_BROKER__TOKEN, ADMIRAL_JOIN__TOKEN, a
// broker URL with a password, …). Any process of the same uid can read another's initial
// environment from /proc/PID/environ, and children inherit process.env. So the CLI takes them out
// once, first thing: the values move into this module (the config loader reads them from here),
// the variables leave process.env (no child inherits them), and their bytes in the initial
// environment block are overwritten through /proc/self/mem, which a process may always write.

import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { resolveEnvName } from './env.js';
import { isSecretKey } from './redact.js';

// Credentials in a URL's userinfo: nats://user:pass@host or nats://token@host.
const URL_USERINFO = /[a-z][a-z0-9+.-]*:\/\/[^/@\s,]+@/i;

/**
 * The variables of `env` that hand over a secret: an ADMIRAL_* variable whose config key is a
 * secret (`token`, `password`, …), or any ADMIRAL_* variable whose value is a URL with credentials.
 */
export function secretEnvNames(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(env).filter((name) => {
    if (!name.startsWith('ADMIRAL_')) return false;
    const key = resolveEnvName(name)?.at(-1);
    if (key !== undefined && isSecretKey(key)) return true;
    return URL_USERINFO.test(env[name] ?? '');
  });
}

/** A copy of `env` without the variables that hold secrets (for a child's environment). */
export function withoutSecretEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const name of secretEnvNames(env)) delete out[name];
  return out;
}

const held: Record<string, string> = {};

/** The environment the configuration is read from: process.env and the secrets taken out of it. */
export function configEnv(): NodeJS.ProcessEnv {
  return { ...process.env, ...held };
}

/** What withholdSecretEnv did: the names it took, and whether /proc/self/environ was cleared. */
export interface Withheld {
  readonly names: readonly string[];
  /** Why the initial environment block could not be overwritten (not Linux, no /proc), if so. */
  readonly notCleared?: string;
}

/**
 * Moves the secret ADMIRAL_* variables out of process.env into configEnv(), and overwrites their
 * values in the process's initial environment block (what /proc/PID/environ shows) with NUL
 * bytes. Call once, before anything reads the configuration or starts a child.
 */
export function withholdSecretEnv(): Withheld {
  const names = secretEnvNames(process.env);
  if (names.length === 0) return { names };
  const entries = names.map((name) => `${name}=${process.env[name] ?? ''}`);
  for (const name of names) {
    held[name] = process.env[name] ?? '';
    delete process.env[name];
  }
  try {
    clearInitialEnv(entries);
    return { names };
  } catch (err) {
    return { names, notCleared: err instanceof Error ? err.message : String(err) };
  }
}

/** Overwrites the values of `entries` ("NAME=value") where they stand in the initial environment. */
function clearInitialEnv(entries: readonly string[]): void {
  if (process.platform !== 'linux') throw new Error(`not on Linux (${process.platform})`);
  // /proc/self/stat: fields after the command name's closing paren; env_start and env_end are
  // fields 50 and 51 (proc(5)), so 47 and 48 counted from the state (field 3) at index 0.
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[47]);
  const end = Number(fields[48]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end <= start) {
    throw new Error(`unexpected env_start/env_end in /proc/self/stat: ${fields[47]} ${fields[48]}`);
  }
  const fd = openSync('/proc/self/mem', 'r+');
  try {
    const block = Buffer.alloc(end - start);
    readSync(fd, block, 0, block.length, start);
    for (const entry of entries) {
      const bytes = Buffer.from(`${entry}\0`);
      for (let at = block.indexOf(bytes); at !== -1; at = block.indexOf(bytes, at + 1)) {
        if (at > 0 && block[at - 1] !== 0) continue; // the middle of another variable
        const eq = entry.indexOf('=') + 1;
        const value = Buffer.byteLength(entry) - eq;
        writeSync(fd, Buffer.alloc(value), 0, value, start + at + eq);
        block.fill(0, at + eq, at + bytes.length - 1);
      }
    }
    const after = Buffer.alloc(block.length);
    readSync(fd, after, 0, after.length, start);
    if (!after.equals(block)) throw new Error('the environment block did not take the overwrite');
  } finally {
    closeSync(fd);
  }
}
