// REQCliCommand: run methodArgs as argv (no shell unless argv invokes one) and return stdout,
// stderr and the exit code. Hardened against Steward's gaps:
// - the command leads its own process group; timeout and cancel stop the whole group;
// - it is started by the spawner helper (spawner.ts), which sends its output to files in
//   <dataDir>/run/<message id>/ and records its pid and exit code there (run-files.ts); the helper
//   outlives a node killed with -9, so a restarted node reports the real result (recover()).

import { lstat, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { secretEnvNames } from '../config/secret-env.js';
import { dirEntries } from './dir-entries.js';
import { BadMethodArgsError, METHOD_ERROR_CODES } from './errors.js';
import {
  abortMessage,
  abortStatus,
  DEFAULT_KILL_GRACE_MS,
  failure,
  methodTimeoutMs,
  sleep,
  whenAborted,
} from './output.js';
import { killGroup, type ProcessIdentity, sameProcessAlive } from './process-group.js';
import {
  type Captured,
  readCapped,
  readExitCode,
  readMeta,
  readRunPid,
  type RunEnd,
  type RunStart,
} from './run-files.js';
import { removeRunDir, spawnRun } from './spawner.js';
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

function describeExit(code: number): string {
  // A shell reports death by signal N as 128 + N; the helper records it the same way.
  if (code > 128 && code < 160) return `command was killed by signal ${code - 128} (exit ${code})`;
  return `command exited with code ${code}`;
}

/** The result of a finished run. */
function finishedOutput(exitCode: number, stdout: Captured, stderr: Captured): MethodOutput {
  return {
    status: exitCode === 0 ? MethodStatus.ok : MethodStatus.error,
    data: stdout.text,
    stderr: stderr.text,
    exitCode,
    ...(exitCode === 0
      ? {}
      : { error: describeExit(exitCode), code: METHOD_ERROR_CODES.commandFailed }),
    ...(stdout.truncated || stderr.truncated ? { truncated: true } : {}),
  };
}

/** The result of a run whose group was stopped (timeout, cancel): what it wrote so far. */
function stoppedOutput(
  stdout: Captured,
  stderr: Captured,
  status: MethodStatus,
  error: string,
): MethodOutput {
  return {
    status,
    data: stdout.text,
    stderr: stderr.text,
    error,
    ...(stdout.truncated || stderr.truncated ? { truncated: true } : {}),
  };
}

/** A run's output: as `end` brought it back, or else as its files hold it. */
async function outputOf(runDir: string, cap: number, end?: RunEnd): Promise<[Captured, Captured]> {
  if (end !== undefined && 'exitCode' in end && end.stdout && end.stderr) {
    return [end.stdout, end.stderr];
  }
  return [
    await readCapped(join(runDir, 'stdout'), cap),
    await readCapped(join(runDir, 'stderr'), cap),
  ];
}

async function cleanRunDir(ctx: MethodContext, runDir: string): Promise<void> {
  try {
    await removeRunDir(runDir);
  } catch (err) {
    ctx.log('warn', 'could not remove a finished run directory', { runDir, err: String(err) });
  }
}

// The variables that hand the node a secret (`ADMIRAL_BROKER__TOKEN`, a broker URL with a
// password, …): commands do not inherit them, so `env` in a command, or a script that logs its
// environment, does not put the node's credentials into a result.
export { secretEnvNames } from '../config/secret-env.js';

let processSecrets: string[] | undefined;

/** errno values with which exec refuses a program that is missing or not executable. */
const NOT_A_PROGRAM = new Set(['ENOENT', 'EACCES', 'ENOTDIR', 'EISDIR', 'ENOEXEC', 'ELOOP']);

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
  if (ctx.signal.aborted) {
    return { status: abortStatus(ctx.signal), data: '', error: abortMessage(ctx, 'not started') };
  }
  const graceMs = limits.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const cap = limits.maxOutputBytes;
  const { argv, env } = substituteStewardData(request.methodArgs, request.data);
  const startedAt = Date.now();
  let start: RunStart;
  try {
    start = await spawnRun({
      runDir,
      meta: { id: request.id, argv, startedAt, deadline: startedAt + methodTimeoutMs(ctx) },
      file: argv[0]!,
      args: argv.slice(1),
      cwd: ctx.dataDir,
      env,
      unset: (processSecrets ??= secretEnvNames(process.env)),
      cap,
    });
  } catch (err) {
    return failure(err, METHOD_ERROR_CODES.commandFailed);
  }
  if ('earlier' in start) {
    // A run directory left by an earlier run of this message (the node died) means the command
    // may have run or may still run: take that result rather than execute it a second time.
    return (
      (await recoverCommand(ctx)) ?? {
        status: MethodStatus.error,
        data: '',
        error:
          'an earlier run of this message ended without an exit code (its starter died); not run a second time',
        code: METHOD_ERROR_CODES.commandFailed,
      }
    );
  }
  const pgid = start.pid;
  if (pgid === undefined) {
    const end = await start.ended;
    if ('error' in end && end.errno !== undefined && NOT_A_PROGRAM.has(end.errno)) {
      return {
        status: MethodStatus.error,
        data: '',
        exitCode: 127, // what a shell reports for a command not found
        error: `Expected methodArgs[0] to name an executable program, got ${JSON.stringify(argv[0])}: not found in PATH (${process.env['PATH'] ?? ''}) or not executable (${end.errno})`,
        code: METHOD_ERROR_CODES.commandFailed,
      };
    }
    return failure(
      new Error('error' in end ? end.error : 'the command did not start'),
      METHOD_ERROR_CODES.commandFailed,
    );
  }
  ctx.log('debug', 'command started', { id: request.id, pgid, argv });

  const first = await Promise.race([
    start.ended,
    whenAborted(ctx.signal).then(() => 'aborted' as const),
  ]);
  if (first !== 'aborted') return endOutput(runDir, cap, first);
  // The pid file holds the leader's start time: a pid reused meanwhile is never signalled.
  const leader = readRunPid(runDir) ?? { pid: pgid };
  const ended = await endedMeanwhile(runDir, leader, start.ended);
  if (ended !== undefined) {
    ctx.log('info', 'the command had ended when it was to be stopped; its own end is reported', {
      id: request.id,
      pgid,
    });
    return endOutput(runDir, cap, ended);
  }
  const gone = await killGroup(leader, graceMs);
  const end = await start.ended;
  const what = gone
    ? `process group ${pgid} killed`
    : `process group ${pgid} signalled, but some processes did not end`;
  // The run dir stays until the node has committed this result (settled): a crash before
  // that commit must find the result again, not an empty place that reads as "never started".
  const [stdout, stderr] = await outputOf(runDir, cap, end);
  return stoppedOutput(stdout, stderr, abortStatus(ctx.signal), abortMessage(ctx, what));
}

/** The result of a run that ended by itself, as its starter told it. */
async function endOutput(runDir: string, cap: number, end: RunEnd): Promise<MethodOutput> {
  if ('exitCode' in end) return finishedOutput(end.exitCode, ...(await outputOf(runDir, cap, end)));
  if ('lost' in end) {
    const [stdout, stderr] = await outputOf(runDir, cap);
    return stoppedOutput(stdout, stderr, MethodStatus.error, end.lost);
  }
  return failure(new Error(end.error), METHOD_ERROR_CODES.commandFailed);
}

/** How long a run to be stopped waits for its starter's word on a leader that is gone. */
const ENDED_WAIT_MS = 2000;

/**
 * When a timeout or cancel comes: how the command ended if it ended by itself meanwhile, or
 * undefined while it still runs. A node stalled past its deadline (a GC pause, SIGSTOP, a frozen
 * VM) wakes to its timer before it reads the helper's answer, so the answer is looked for where
 * the helper put it first (`exit`, written before it answers); a leader that is gone with no
 * `exit` yet is one whose starter is about to write it.
 */
async function endedMeanwhile(
  runDir: string,
  leader: ProcessIdentity,
  ended: Promise<RunEnd>,
): Promise<RunEnd | undefined> {
  const code = readExitCode(runDir);
  if (code === undefined && sameProcessAlive(leader)) return undefined;
  const wait = new AbortController();
  const end = await Promise.race([ended, sleep(ENDED_WAIT_MS, wait.signal)]);
  wait.abort();
  if (end !== undefined) return end;
  return code === undefined ? undefined : { exitCode: code };
}

/** How long recovery waits for a live starter to record a pid or an exit code. */
const STARTER_WAIT_MS = 2000;

/** Polls `read` every 25 ms while `waiting()` holds, up to `ms`; what `read` last gave. */
async function pollFor<T>(
  read: () => T | undefined,
  waiting: () => boolean,
  ms: number,
): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = read();
    if (value !== undefined || !waiting() || Date.now() >= deadline) return value;
    await sleep(25);
  }
}

/** Waits until the run's `exit` is recorded or its leader is gone; 'stopped' when `until` came first. */
async function waitForExit(
  runDir: string,
  leader: ProcessIdentity,
  until: Promise<void>,
): Promise<'exit' | 'gone' | 'stopped'> {
  let stopped = false;
  void until.then(() => {
    stopped = true;
  });
  for (;;) {
    if (readExitCode(runDir) !== undefined) return 'exit';
    if (!sameProcessAlive(leader)) return 'gone';
    if (stopped) return 'stopped';
    await sleep(50);
  }
}

/**
 * After a node restart: the result of a run that was going on when the node died. The run's
 * starter (the spawner helper) outlived the node and records the exit code, so:
 * - an `exit` file means it finished: return it;
 * - no run dir, or one without meta.json, means the command never started: run it now. A run
 *   dir is renamed into place with its meta.json in it (claimRunDir), so none is half-claimed;
 *   the helper does not start what a node that died had sent it (its successor runs that here);
 *   and the run dir is removed only once the node committed the result (also after a recovery);
 * - a live command: wait for it (until what is left of methodTimeout, then stop the group);
 * - a command gone while its starter lives: the exit code is being written, wait for it;
 * - no pid and no starter, or a command gone with its starter: undefined (interrupted), never
 *   a second run of something that may have run.
 */
async function recoverCommand(ctx: MethodContext): Promise<MethodOutput | undefined> {
  let runDir: string;
  try {
    runDir = runDirFor(ctx.dataDir, ctx.request.id);
  } catch {
    return undefined;
  }
  const cap = ctx.limits.maxOutputBytes;
  const graceMs = ctx.limits.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const finished = async (code: number): Promise<MethodOutput> =>
    finishedOutput(code, ...(await outputOf(runDir, cap)));
  const exists = await stat(runDir).then(
    () => true,
    () => false,
  );
  const done = exists ? readExitCode(runDir) : undefined;
  if (done !== undefined) return finished(done);
  const meta = exists ? readMeta(runDir) : undefined;
  if (meta === undefined) {
    if (ctx.startBy !== undefined && Date.now() >= ctx.startBy) {
      ctx.log('info', 'the command never started before the node stopped, and has expired since');
      if (exists) await removeRunDir(runDir);
      return {
        status: MethodStatus.expired,
        data: '',
        error: `${ctx.nodeName} did not run it: it expired at ${new Date(ctx.startBy).toISOString()} before it could start`,
      };
    }
    ctx.log('info', 'the command never started before the node stopped; running it now');
    if (exists) await removeRunDir(runDir);
    return runCommand(ctx);
  }
  const starterLives = (): boolean => meta.starter !== undefined && sameProcessAlive(meta.starter);
  const leader = await pollFor(() => readRunPid(runDir), starterLives, STARTER_WAIT_MS);
  const late = (): Promise<number | undefined> =>
    pollFor(() => readExitCode(runDir), starterLives, STARTER_WAIT_MS);
  if (leader === undefined || !sameProcessAlive(leader)) {
    const code = await late();
    return code === undefined ? undefined : finished(code);
  }

  const remaining = Math.max(0, meta.deadline - Date.now());
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(MethodStatus.timeout), remaining);
  const onAbort = (): void => deadline.abort(ctx.signal.reason);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  if (ctx.signal.aborted) onAbort();
  try {
    const how = await waitForExit(runDir, leader, whenAborted(deadline.signal));
    if (how !== 'stopped') {
      const code = await late();
      return code === undefined ? undefined : finished(code);
    }
    const gone = await killGroup(leader, graceMs);
    const status = abortStatus(deadline.signal);
    const what = gone
      ? `process group ${leader.pid} killed`
      : `process group ${leader.pid} signalled`;
    const error =
      status === MethodStatus.timeout
        ? `methodTimeout reached while recovering the run after a node restart; ${what}`
        : `cancelled while recovering the run after a node restart; ${what}`;
    return stoppedOutput(...(await outputOf(runDir, cap)), status, error);
  } finally {
    clearTimeout(timer);
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

/** How old a run directory with no inbox row at all must be before a sweep removes it. */
const ORPHAN_RUN_AGE_MS = 60 * 60 * 1000;

/**
 * Removes run directories whose result is settled but which a crash left behind (the node died
 * between committing a result and removing its directory): those whose inbox row is in a final
 * state, and those with no row at all (purged after expiry) untouched for an hour. A directory
 * of a row that is stored or running is never touched: recovery needs it. Returns the ids removed.
 */
export async function sweepSettledRuns(
  dataDir: string,
  stateOf: (id: string) => string | undefined,
  now = Date.now(),
): Promise<string[]> {
  const dir = join(dataDir, 'run');
  const names = await dirEntries(dir);
  const removed: string[] = [];
  for (const id of names) {
    const state = stateOf(id);
    if (state === 'stored' || state === 'running') continue;
    const runDir = join(dir, id);
    if (state === undefined) {
      const st = await lstat(runDir).catch(() => undefined);
      if (st === undefined || !st.isDirectory() || now - st.mtimeMs < ORPHAN_RUN_AGE_MS) continue;
    }
    await removeRunDir(runDir);
    removed.push(id);
  }
  return removed.sort();
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
