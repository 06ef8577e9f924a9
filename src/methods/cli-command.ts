// REQCliCommand: run methodArgs as argv (no shell unless argv invokes one) and return stdout,
// stderr and the exit code. Hardened against Steward's gaps:
// - the command leads its own process group; timeout and cancel stop the whole group;
// - it runs under a tiny /bin/sh wrapper that sends stdout/stderr to files in
//   <dataDir>/run/<message id>/ and writes the exit code to a file when it ends, so the run
//   outlives a node killed with -9 and a restarted node reports the real result (recover()).

import { constants } from 'node:fs';
import { access, mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { BadMethodArgsError, METHOD_ERROR_CODES } from './errors.js';
import {
  abortMessage,
  abortStatus,
  cutUtf8,
  DEFAULT_KILL_GRACE_MS,
  failure,
  methodTimeoutMs,
  sleep,
  truncationNote,
  whenAborted,
} from './output.js';
import { groupAlive, killGroup, processCommandLine } from './process-group.js';
import { spawnDetached } from './spawner.js';
import {
  type MethodContext,
  type MethodHandler,
  MethodKind,
  type MethodOutput,
  MethodStatus,
} from './types.js';

/** Steward's placeholder for the previous method's output in a chained REQCliCommand. */
export const STEWARD_DATA_PLACEHOLDER = '{{STEWARD_DATA}}';

export interface StewardDataSubstitution {
  /** methodArgs with every `{{STEWARD_DATA}}` replaced by `$STEWARD_DATA`. */
  readonly argv: string[];
  /** Variables to add to the command's environment: STEWARD_DATA (when used) and ADMIRAL_DATA. */
  readonly env: Record<string, string>;
}

/**
 * Chaining as Steward does it (its methodREQCliCommand): `{{STEWARD_DATA}}` in an argument becomes
 * `$STEWARD_DATA` and the data goes into that environment variable, so a shell in argv expands it
 * (`bash -c 'echo "{{STEWARD_DATA}}"'`, `cat <<< {{STEWARD_DATA}}`) and the data is never parsed as
 * shell code. admiral also gives the data as ADMIRAL_DATA.
 */
export function substituteStewardData(
  args: readonly string[],
  data: string | undefined,
): StewardDataSubstitution {
  let used = false;
  const argv = args.map((arg) => {
    if (!arg.includes(STEWARD_DATA_PLACEHOLDER)) return arg;
    used = true;
    return arg.split(STEWARD_DATA_PLACEHOLDER).join('$STEWARD_DATA');
  });
  const env: Record<string, string> = {};
  if (used) env['STEWARD_DATA'] = data ?? '';
  if (data !== undefined) env['ADMIRAL_DATA'] = data;
  return { argv, env };
}

// $1 is the run dir, the rest is the command. The wrapper records its pid (= the group id, as
// it leads the group), runs the command with its output in files, then records the exit code.
// Each record is one printf, i.e. one write(2) of a few bytes into an empty file: a reader sees
// the file missing, empty or whole, and readPid/readExitCode take empty as "not yet". (A rename
// from a .tmp file would need mv, two more fork+exec per command: ≈ 5 ms of CPU each time.)
const WRAPPER = [
  'd=$1; shift',
  'printf "%s\\n" "$$" >"$d/pid"',
  '"$@" >"$d/stdout" 2>"$d/stderr" </dev/null',
  'c=$?',
  'printf "%s\\n" "$c" >"$d/exit"',
].join('\n');

const WRAPPER_NAME = 'admiral-run';

/**
 * The file `program` names, searched in PATH as execvp(3) does. The wrapper gets this path, so
 * its shell runs the program itself: a name such as `eval`, `exec` or `cd` is never taken as a
 * shell builtin (a name with a slash bypasses builtin lookup, POSIX 2.9.1.1).
 */
export async function resolveExecutable(
  program: string,
  pathEnv: string | undefined,
  cwd: string,
): Promise<string | undefined> {
  const isExecutableFile = async (p: string): Promise<boolean> => {
    try {
      await access(p, constants.X_OK);
      return (await stat(p)).isFile();
    } catch {
      return false;
    }
  };
  if (program.includes('/')) {
    const p = isAbsolute(program) ? program : resolve(cwd, program);
    return (await isExecutableFile(p)) ? p : undefined;
  }
  for (const dir of (pathEnv ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    const p = resolve(cwd, dir === '' ? '.' : dir, program);
    if (await isExecutableFile(p)) return p;
  }
  return undefined;
}

/** What is kept next to a run's output so a restarted node can judge it. */
interface RunMeta {
  readonly id: string;
  readonly argv: readonly string[];
  readonly startedAt: number;
  /** Epoch ms at which methodTimeout ends. */
  readonly deadline: number;
}

/** `<dataDir>/run/<id>`; the id names a directory, so it must be a plain token (ULID/UUID). */
export function runDirFor(dataDir: string, id: string): string {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) {
    throw new BadMethodArgsError(
      `Expected the message id to be 1 to 128 of A-Z a-z 0-9 _ -, got ${JSON.stringify(id)}`,
      'REQCliCommand',
    );
  }
  return join(dataDir, 'run', id);
}

async function readCapped(
  file: string,
  cap: number,
): Promise<{ text: string; truncated: boolean; size: number }> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { text: '', truncated: false, size: 0 };
    }
    throw err;
  }
  try {
    const { size } = await handle.stat();
    const want = Math.min(size, cap + 4); // a few bytes more to finish a cut character
    const buf = Buffer.alloc(want);
    const { bytesRead } = await handle.read(buf, 0, want, 0);
    const got = buf.subarray(0, bytesRead);
    if (size <= cap) return { text: got.toString('utf8'), truncated: false, size };
    return {
      text: cutUtf8(got, cap).toString('utf8') + truncationNote(cap, size),
      truncated: true,
      size,
    };
  } finally {
    await handle.close();
  }
}

async function readExitCode(runDir: string): Promise<number | undefined> {
  try {
    const text = await readFile(join(runDir, 'exit'), 'utf8');
    const code = Number.parseInt(text.trim(), 10);
    return Number.isNaN(code) ? undefined : code;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function readPid(runDir: string): Promise<number | undefined> {
  try {
    const pid = Number.parseInt((await readFile(join(runDir, 'pid'), 'utf8')).trim(), 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function readMeta(runDir: string): Promise<RunMeta | undefined> {
  try {
    return JSON.parse(await readFile(join(runDir, 'meta.json'), 'utf8')) as RunMeta;
  } catch {
    return undefined;
  }
}

function describeExit(code: number): string {
  // A shell reports death by signal N as 128 + N.
  if (code > 128 && code < 160) return `command was killed by signal ${code - 128} (exit ${code})`;
  return `command exited with code ${code}`;
}

/** The result of a finished run, read from its files. */
async function finishedOutput(
  runDir: string,
  cap: number,
  exitCode: number,
): Promise<MethodOutput> {
  const out = await readCapped(join(runDir, 'stdout'), cap);
  const err = await readCapped(join(runDir, 'stderr'), cap);
  return {
    status: exitCode === 0 ? MethodStatus.ok : MethodStatus.error,
    data: out.text,
    stderr: err.text,
    exitCode,
    ...(exitCode === 0
      ? {}
      : { error: describeExit(exitCode), code: METHOD_ERROR_CODES.commandFailed }),
    ...(out.truncated || err.truncated ? { truncated: true } : {}),
  };
}

/** The result of a run whose group was stopped (timeout, cancel): what it wrote so far. */
async function stoppedOutput(
  runDir: string,
  cap: number,
  status: MethodStatus,
  error: string,
): Promise<MethodOutput> {
  const out = await readCapped(join(runDir, 'stdout'), cap);
  const err = await readCapped(join(runDir, 'stderr'), cap);
  return {
    status,
    data: out.text,
    stderr: err.text,
    error,
    ...(out.truncated || err.truncated ? { truncated: true } : {}),
  };
}

async function cleanRunDir(ctx: MethodContext, runDir: string): Promise<void> {
  try {
    await rm(runDir, { recursive: true, force: true });
  } catch (err) {
    ctx.log('warn', 'could not remove a finished run directory', { runDir, err: String(err) });
  }
}

/** Waits until `runDir/exit` exists or the group is gone; false when `until` came first. */
async function waitForExitFile(
  runDir: string,
  pgid: number,
  until: Promise<void>,
): Promise<'exit' | 'gone' | 'stopped'> {
  let stopped = false;
  void until.then(() => {
    stopped = true;
  });
  for (;;) {
    if ((await readExitCode(runDir)) !== undefined) return 'exit';
    if (!groupAlive(pgid)) {
      // The wrapper renames `exit` just before it ends: look once more.
      return (await readExitCode(runDir)) !== undefined ? 'exit' : 'gone';
    }
    if (stopped) return 'stopped';
    await sleep(50);
  }
}

async function runCommand(ctx: MethodContext): Promise<MethodOutput> {
  const { request, limits } = ctx;
  if (request.methodArgs.length === 0 || request.methodArgs[0] === '') {
    return failure(
      new BadMethodArgsError(
        `Expected methodArgs to be [command, ...arguments], got ${JSON.stringify(request.methodArgs)}`,
        request.method,
      ),
    );
  }
  let runDir: string;
  try {
    runDir = runDirFor(ctx.dataDir, request.id);
  } catch (err) {
    return failure(err);
  }
  // A run directory left by an earlier run of this message (the node died) means the command
  // may have run or may still run: take that result rather than execute it a second time.
  if (
    await stat(runDir).then(
      () => true,
      () => false,
    )
  ) {
    const earlier = await recoverCommand(ctx);
    if (earlier) return earlier;
  }
  const graceMs = limits.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const cap = limits.maxOutputBytes;
  const { argv, env } = substituteStewardData(request.methodArgs, request.data);
  const childEnv = { ...process.env, ...env };
  const program = await resolveExecutable(argv[0]!, childEnv['PATH'], ctx.dataDir);
  if (program === undefined) {
    return {
      status: MethodStatus.error,
      data: '',
      exitCode: 127, // what a shell reports for a command not found
      error: `Expected methodArgs[0] to name an executable program, got ${JSON.stringify(argv[0])}: not found in PATH (${childEnv['PATH'] ?? ''}) or not executable`,
      code: METHOD_ERROR_CODES.commandFailed,
    };
  }
  const startedAt = Date.now();
  const meta: RunMeta = {
    id: request.id,
    argv,
    startedAt,
    deadline: startedAt + methodTimeoutMs(ctx),
  };
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  await writeFile(join(runDir, 'meta.json.tmp'), JSON.stringify(meta));
  await rename(join(runDir, 'meta.json.tmp'), join(runDir, 'meta.json'));
  if (ctx.signal.aborted) {
    await cleanRunDir(ctx, runDir);
    return { status: abortStatus(ctx.signal), data: '', error: abortMessage(ctx, 'not started') };
  }

  // Detached (setsid): the wrapper leads a new group, and survives the node. Started by the
  // spawner helper, so the fork does not cost this process's main thread (spawner.ts).
  const child = await spawnDetached(
    '/bin/sh',
    ['-c', WRAPPER, WRAPPER_NAME, runDir, program, ...argv.slice(1)],
    { cwd: ctx.dataDir, env: childEnv },
  );
  const ended = child.ended;
  const pgid = child.pid;
  if (pgid === undefined) {
    const err = await ended;
    await cleanRunDir(ctx, runDir);
    return failure(err, METHOD_ERROR_CODES.commandFailed);
  }
  ctx.log('debug', 'command started', { id: request.id, pgid, argv });

  const first = await Promise.race([ended, whenAborted(ctx.signal).then(() => 'aborted' as const)]);
  if (first === 'aborted') {
    const gone = await killGroup(pgid, graceMs);
    await ended;
    const what = gone
      ? `process group ${pgid} killed`
      : `process group ${pgid} signalled, but some processes did not end`;
    // The run dir stays until the node has committed this result (settled): a crash before
    // that commit must find the result again, not an empty place that reads as "never started".
    return await stoppedOutput(runDir, cap, abortStatus(ctx.signal), abortMessage(ctx, what));
  }
  if (first instanceof Error) {
    await cleanRunDir(ctx, runDir);
    return failure(first, METHOD_ERROR_CODES.commandFailed);
  }
  const exitCode = await readExitCode(runDir);
  return exitCode === undefined
    ? await stoppedOutput(
        runDir,
        cap,
        MethodStatus.error,
        `the command's wrapper ended without an exit code (${first.signal ?? `exit ${first.code}`}); was its process group killed from outside?`,
      )
    : await finishedOutput(runDir, cap, exitCode);
}

/** How long recovery waits for a just-spawned wrapper to record its pid. */
const PID_WAIT_MS = 1000;

async function waitForPid(runDir: string, ms: number): Promise<number | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const pid = await readPid(runDir);
    if (pid !== undefined || Date.now() >= deadline) return pid;
    await sleep(25);
  }
}

/**
 * After a node restart: the result of a run that was going on when the node died. An `exit`
 * file means it finished: return it. A live wrapper means it is still running: wait for it
 * (until what is left of methodTimeout, then stop the group). No run dir, or one whose wrapper
 * never recorded its pid, means the command never started (the wrapper writes its pid before it
 * runs the command, and the run dir is only removed once the node committed the result): run it
 * now. A wrapper that is gone without an exit code: undefined (interrupted).
 */
async function recoverCommand(ctx: MethodContext): Promise<MethodOutput | undefined> {
  let runDir: string;
  try {
    runDir = runDirFor(ctx.dataDir, ctx.request.id);
  } catch {
    return undefined;
  }
  const exists = await stat(runDir).then(
    () => true,
    () => false,
  );
  if (!exists) {
    ctx.log('info', 'the command never started before the node stopped; running it now');
    return runCommand(ctx);
  }
  const cap = ctx.limits.maxOutputBytes;
  const graceMs = ctx.limits.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const done = await readExitCode(runDir);
  if (done !== undefined) return finishedOutput(runDir, cap, done);
  const pgid = await waitForPid(runDir, PID_WAIT_MS);
  if (pgid === undefined) {
    const late = await readExitCode(runDir);
    if (late !== undefined) return finishedOutput(runDir, cap, late);
    ctx.log('info', 'the command never started before the node stopped; running it now');
    await rm(runDir, { recursive: true, force: true });
    return runCommand(ctx);
  }
  const meta = await readMeta(runDir);
  // The pid is ours only while the wrapper holding our run dir in its argv is alive: after a
  // reboot or a long outage the number may belong to someone else's process.
  const cmdline = processCommandLine(pgid);
  const ours = cmdline?.includes(WRAPPER_NAME) === true && cmdline.includes(runDir);
  if (!ours) {
    const late = await readExitCode(runDir);
    return late === undefined ? undefined : await finishedOutput(runDir, cap, late);
  }

  const remaining = Math.max(0, (meta?.deadline ?? Date.now() + methodTimeoutMs(ctx)) - Date.now());
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(MethodStatus.timeout), remaining);
  const onAbort = (): void => deadline.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) onAbort();
  try {
    const how = await waitForExitFile(runDir, pgid, whenAborted(deadline.signal));
    if (how === 'exit') {
      const output = await finishedOutput(runDir, cap, (await readExitCode(runDir)) ?? -1);
      return output;
    }
    if (how === 'gone') return undefined;
    const gone = await killGroup(pgid, graceMs);
    const status = abortStatus(deadline.signal);
    const what = gone ? `process group ${pgid} killed` : `process group ${pgid} signalled`;
    const error =
      status === MethodStatus.timeout
        ? `methodTimeout reached while recovering the run after a node restart; ${what}`
        : `cancelled while recovering the run after a node restart; ${what}`;
    return await stoppedOutput(runDir, cap, status, error);
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

export const cliCommand: MethodHandler = {
  name: 'REQCliCommand',
  kind: MethodKind.request,
  privileged: true,
  run: runCommand,
  recover: recoverCommand,
  // The node committed the result: the run's files are no longer needed to recover it.
  settled: async (ctx) => {
    try {
      await cleanRunDir(ctx, runDirFor(ctx.dataDir, ctx.request.id));
    } catch {
      // an id that cannot name a run dir never had one
    }
  },
};
