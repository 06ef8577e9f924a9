// Path confinement. Writes land only inside the node's data dir, never on admiral's own state there;
// reads only under the allowlist.
// Steward takes an absolute `directory` relative to its data folder ("/var/cli/command_result/" →
// <data>/var/cli/command_result/); admiral keeps that and also refuses `..` that climbs out, NUL
// bytes, and symlinks (in any existing component) whose target lies outside.

import { lstat, realpath } from 'node:fs/promises';
import { isAbsolute, join, posix, resolve, sep } from 'node:path';
import { ReadNotAllowedError, UnsafePathError } from './errors.js';

/**
 * What admiral keeps in a data dir (top-level names): keys and seeds, trust and enrolment, the
 * database, config, tokens, sockets, and the folders whose files it runs or reads as its own
 * (extensions, facts, runs, relays, TLS). No remote message may write there. (`copy/` is not one:
 * Steward's examples write their results there; its transfer files are, see assertNotState.)
 */
export const DATA_DIR_STATE: ReadonlySet<string> = new Set([
  'identity.seed',
  'trust.json',
  // What the centrals on JetStream last synced of trust.json (central/shared-trust.ts).
  'trust-shared.json',
  'config.yaml',
  'enrolment.json',
  'api-token',
  'admiral.sock',
  'status.json',
  'up.json',
  'local-broker.json',
  'joined.json',
  'fleet-ca.pem',
  'audit.log',
  'extensions',
  'facts.d',
  'backups',
  'run',
  'relay',
  'tls',
  'keys',
  // The operator, accounts and their seeds (`admiral nats init`): the fleet's root of trust.
  'nats',
]);

/** Whether the top-level name `name` of a data dir is admiral's own state. */
function isStateName(name: string): boolean {
  return (
    DATA_DIR_STATE.has(name) ||
    // The database and its WAL, shared-memory and journal files; rotated audit logs.
    name.startsWith('admiral.db') ||
    name.startsWith('audit.log.') ||
    name.endsWith('.seed') ||
    name.endsWith('.nk') ||
    name.endsWith('.creds')
  );
}

/**
 * Refuses a resolved write target that is admiral's own state: a reserved name at the top of the
 * data dir, or inside one of the `protect`ed paths (configured folders and files such as a watched
 * input folder, whose files the node would take as its own messages).
 */
function assertNotState(
  realRoot: string,
  target: string,
  protect: readonly string[],
  shown: string,
): void {
  const parts = target.slice(realRoot.length + 1).split(sep);
  const top = parts[0] ?? '';
  // Copy transfers keep their state and partial data beside Steward's result files in copy/.
  const transfer = top === 'copy' && parts.length === 2 && /\.(part|state)$/.test(parts[1] ?? '');
  const hit = isStateName(top)
    ? join(realRoot, top)
    : transfer
      ? target
      : protect.find((p) => isInside(p, target) || isInside(target, p));
  if (hit !== undefined) {
    throw new UnsafePathError(
      `Refusing ${shown}: ${target} is admiral's own state (${hit}); reply and copy methods write only outside it`,
      target,
      realRoot,
    );
  }
}

function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * The absolute path at which a file named by a message's `directory` and `fileName` is written,
 * inside `root` (the data dir). Existing symlinks along the way are resolved and must stay inside
 * `root`; components that do not exist yet are returned unresolved (the caller creates them).
 * Throws UnsafePathError and touches nothing when the path could lead outside.
 */
export async function resolveInside(
  root: string,
  directory: string | undefined,
  fileName: string | undefined,
  protect: readonly string[] = [],
): Promise<string> {
  const dir = directory ?? '';
  const shown = `${JSON.stringify(dir)} + ${JSON.stringify(fileName ?? '')}`;
  if (dir.includes('\0') || (fileName ?? '').includes('\0')) {
    throw new UnsafePathError(`Expected a path without NUL bytes, got ${shown}`, dir, root);
  }
  if (
    fileName === undefined ||
    fileName === '' ||
    fileName === '.' ||
    fileName === '..' ||
    /[/\\]/.test(fileName)
  ) {
    throw new UnsafePathError(
      `Expected \`fileName\` to be a plain file name (no "/", not "." or ".."), got ${JSON.stringify(fileName ?? null)}`,
      fileName ?? '',
      root,
    );
  }
  // Steward: an absolute directory is taken relative to the data folder.
  const normalized = posix.normalize(`./${dir.replace(/^\/+/, '')}`);
  if (normalized === '..' || normalized.startsWith('../')) {
    throw new UnsafePathError(
      `Expected \`directory\` to stay inside the data dir, got ${JSON.stringify(dir)}, which climbs out with ".."`,
      dir,
      root,
    );
  }

  const realRoot = await realpath(root);
  let current = realRoot;
  let missing = false;
  const components = normalized.split('/').filter((c) => c !== '' && c !== '.');
  const parts = [...components, fileName];
  for (const [index, component] of parts.entries()) {
    const next = join(current, component);
    const isFile = index === parts.length - 1;
    if (missing) {
      current = next;
      continue;
    }
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(next);
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
      missing = true;
      current = next;
      continue;
    }
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = await realpath(next);
      } catch (err) {
        throw new UnsafePathError(
          `Refusing ${shown}: ${next} is a symlink whose target does not exist, so where it leads cannot be checked`,
          next,
          realRoot,
          { cause: err },
        );
      }
      if (!isInside(realRoot, target)) {
        throw new UnsafePathError(
          `Refusing ${shown}: ${next} is a symlink to ${target}, outside the data dir ${realRoot}`,
          next,
          realRoot,
        );
      }
      current = target;
    } else {
      current = next;
    }
    if (!isFile && !(st.isSymbolicLink() || st.isDirectory())) {
      throw new UnsafePathError(
        `Expected ${next} to be a directory, found a file; refusing ${shown}`,
        next,
        realRoot,
      );
    }
  }
  // The walk resolved each component itself; check the end once more (defence in depth).
  if (!isInside(realRoot, current) || current === realRoot) {
    throw new UnsafePathError(
      `Refusing ${shown}: it resolves to ${current}, outside the data dir`,
      current,
      realRoot,
    );
  }
  assertNotState(realRoot, current, protect, shown);
  return current;
}

/**
 * The real path (symlinks resolved) of a file a method may read: it must lie under one of the
 * `allow` directories. A relative `path` is taken from `base` (the data dir for methods).
 * Throws ReadNotAllowedError naming the `paths.readAllow` setting, or the fs error (ENOENT).
 */
export async function resolveReadable(
  path: string,
  allow: readonly string[],
  base: string = process.cwd(),
): Promise<string> {
  if (path.includes('\0')) {
    throw new ReadNotAllowedError(
      `Expected a path without NUL bytes, got ${JSON.stringify(path)}`,
      path,
      allow,
    );
  }
  const absolute = isAbsolute(path) ? path : resolve(base, path);
  const real = await realpath(absolute);
  for (const dir of allow) {
    let realDir: string;
    try {
      realDir = await realpath(dir);
    } catch {
      continue; // an allowlisted directory that does not exist allows nothing
    }
    if (isInside(realDir, real)) return real;
  }
  const via = real === absolute ? '' : ` (real path ${real})`;
  throw new ReadNotAllowedError(
    `Reading ${absolute}${via} is not allowed: it is outside paths.readAllow [${allow.join(', ')}]; add its directory to paths.readAllow in the node's config to allow it`,
    real,
    allow,
  );
}
