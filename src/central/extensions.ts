import { fork } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { helperPath } from '../layout.js';
import { withoutSecretEnv } from '../config/secret-env.js';
import { ExtensionError } from './errors.js';
import type { RunnerAnswer } from './extension-runner.js';
import { METHOD_NAME, MODULE_NAME } from './wire.js';

// Server-side extensions (bpbroker's `execute`): JS modules in the central's extensions folder,
// called as `module.method`. Each call runs in its own child process with a heap limit and a
// timeout, so a method that throws, hangs or crashes gives its caller an error and the central
// keeps serving. A module's methods are its exported functions (and those of a default-exported
// object); each is called as `method(data, context)` and may return a value or a promise.

const RUNNER = helperPath('extension-runner');
const EXTENSIONS = ['.mjs', '.cjs'] as const;

export interface ExtensionLimits {
  /** ms before the method's process is killed. */
  readonly timeoutMs: number;
  readonly maxMemoryMb: number;
}

/** The installed file of `module` in `dir`, if any. */
export function moduleFile(dir: string, module: string): string | undefined {
  if (!MODULE_NAME.test(module)) return undefined;
  return EXTENSIONS.map((e) => join(dir, `${module}${e}`)).find((f) => existsSync(f));
}

/** Splits `module.method`; throws `ExtensionError` when it is not of that form. */
export function parseMethod(value: string): { module: string; method: string } {
  const dot = value.indexOf('.');
  const module = value.slice(0, dot);
  const method = value.slice(dot + 1);
  if (dot < 0 || !MODULE_NAME.test(module) || !METHOD_NAME.test(method)) {
    throw new ExtensionError(
      `Expected --method to be module.method (module: A-Z a-z 0-9 _ -; method: a JS identifier), got ${JSON.stringify(value)}`,
      value,
    );
  }
  return { module, method };
}

type Task =
  | { kind: 'check'; file: string }
  | { kind: 'run'; file: string; method: string; data: string; context: Record<string, unknown> };

/** Runs one task in a fresh runner process; rejects with `ExtensionError` on timeout or crash. */
function runTask(task: Task, what: string, limits: ExtensionLimits): Promise<RunnerAnswer> {
  return new Promise((resolve, reject) => {
    const child = fork(RUNNER, [], {
      execArgv: [`--max-old-space-size=${limits.maxMemoryMb}`],
      env: withoutSecretEnv(process.env),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() =>
        reject(
          new ExtensionError(`${what} did not finish within ${limits.timeoutMs / 1000} s`, what),
        ),
      );
    }, limits.timeoutMs);
    child.once('message', (answer: RunnerAnswer) => finish(() => resolve(answer)));
    child.once('error', (err) =>
      finish(() => reject(new ExtensionError(`cannot start ${what}: ${err.message}`, what))),
    );
    child.once('exit', (code, signal) =>
      finish(() => {
        const tail = stderr.trim().split('\n').slice(-1)[0] ?? '';
        reject(
          new ExtensionError(
            `${what} ended without an answer (${signal ?? `exit code ${code}`})${tail ? `: ${tail}` : ''}`,
            what,
          ),
        );
      }),
    );
    child.send(task);
  });
}

/** Runs `module.method(data, context)` from `dir`; returns its result or throws `ExtensionError`. */
export async function runExtension(
  dir: string,
  qualified: string,
  data: string,
  context: Record<string, unknown>,
  limits: ExtensionLimits,
): Promise<unknown> {
  const { module, method } = parseMethod(qualified);
  const file = moduleFile(dir, module);
  if (file === undefined) {
    throw new ExtensionError(`no extension module '${module}' is installed`, qualified);
  }
  const answer = await runTask(
    { kind: 'run', file, method, data, context },
    `extension method ${qualified}`,
    limits,
  );
  if (answer.ok) return 'result' in answer ? answer.result : null;
  switch (answer.code) {
    case 'unknown-method':
      throw new ExtensionError(`extension module '${module}' has no method '${method}'`, qualified);
    case 'load':
      throw new ExtensionError(
        `extension module '${module}' failed to load: ${answer.error}`,
        qualified,
      );
    default:
      throw new ExtensionError(`extension method ${qualified} failed: ${answer.error}`, qualified);
  }
}

/** Loads `file` once in a child process and returns the methods it exports. */
export async function checkExtension(
  file: string,
  limits: ExtensionLimits,
  label = file,
): Promise<string[]> {
  const answer = await runTask({ kind: 'check', file }, `loading ${label}`, limits);
  if (!answer.ok) throw new ExtensionError(`${label} failed to load: ${answer.error}`, label);
  return 'methods' in answer ? answer.methods : [];
}

export interface InstalledExtension {
  readonly module: string;
  readonly file: string;
  readonly methods: readonly string[];
}

/**
 * Installs a module into `dir` (bpbroker's install-extension): copies it beside its final name,
 * loads it once in a child process, and moves it into place only when it loads and exports at
 * least one method. `.js` is installed as `.mjs` (ES module); `.cjs` stays CommonJS.
 */
export async function installExtension(
  source: string,
  dir: string,
  limits: ExtensionLimits,
): Promise<InstalledExtension> {
  const ext = extname(source);
  if (!['.mjs', '.js', '.cjs'].includes(ext)) {
    throw new ExtensionError(`Expected a .mjs, .js or .cjs module, got ${source}`, source);
  }
  const module = basename(source, ext);
  if (!MODULE_NAME.test(module)) {
    throw new ExtensionError(
      `Expected the module's file name to be 1 to 64 of A-Z a-z 0-9 _ -, got ${JSON.stringify(module)}`,
      source,
    );
  }
  const finalExt = ext === '.cjs' ? '.cjs' : '.mjs';
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${module}.${process.pid}.tmp${finalExt}`);
  try {
    copyFileSync(source, tmp);
  } catch (err) {
    throw new ExtensionError(`cannot read ${source}: ${(err as Error).message}`, source, {
      cause: err,
    });
  }
  try {
    const methods = await checkExtension(tmp, limits, source);
    if (methods.length === 0) {
      throw new ExtensionError(`${source} exports no methods (functions)`, source);
    }
    const file = join(dir, `${module}${finalExt}`);
    // One module, one file: drop the other flavour if it was installed before.
    for (const e of EXTENSIONS)
      if (e !== finalExt) rmSync(join(dir, `${module}${e}`), { force: true });
    renameSync(tmp, file);
    return { module, file, methods };
  } finally {
    rmSync(tmp, { force: true });
  }
}
