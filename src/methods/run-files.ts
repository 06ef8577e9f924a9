// The run directory of a REQCliCommand, <dataDir>/run/<message id>/, and the process that starts
// the command in it: the spawner helper (spawner-child.ts), or the node itself when no helper
// can run. That starter is the command's parent, so it is the one that learns its exit code, and
// it records the run in files a restarted node can read (cli-command.ts, recoverCommand):
//   meta.json     argv, start, deadline, and the starter's identity: in the directory from the
//                 moment it exists (written aside and renamed into place, claimRunDir);
//   pid           right after: "<pid> <start time>" (the command leads its own process group);
//   stdout/stderr the command's output, written by the command itself;
//   exit          once it ended: its exit code (128 + N when signal N killed it, as a shell says).
// Each record is one write(2) of a few bytes into a new file: a reader sees the file missing,
// empty or whole, and takes empty as "not yet". The helper outlives the node that asked (it ends
// once its last command has), so a node killed with -9 finds the real result when it restarts.
// One exec per command: the command itself, with no shell wrapper around it.

import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmdirSync,
  statSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { cutUtf8, truncationNote } from './output.js';
import { type ProcessIdentity, processStartTime } from './process-group.js';

/** What is kept next to a run's output so a restarted node can judge it. */
export interface RunMeta {
  readonly id: string;
  readonly argv: readonly string[];
  readonly startedAt: number;
  /** Epoch ms at which methodTimeout ends. */
  readonly deadline: number;
  /** The process that started the command and records its exit code. */
  readonly starter?: ProcessIdentity;
}

/** One start of a command in its run directory. */
export interface RunRequest {
  readonly runDir: string;
  readonly meta: Omit<RunMeta, 'starter'>;
  /** The program (argv[0]), found in PATH by spawn as execvp(3) does; no shell is involved. */
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  /** Added to the starter's own environment. */
  readonly env: Record<string, string>;
  /** Taken out of the starter's own environment (the node's secrets: secretEnvNames). */
  readonly unset?: readonly string[];
  /** Most bytes of each output stream sent back (limits.maxOutputBytes). */
  readonly cap: number;
}

/** One captured output stream. */
export interface Captured {
  readonly text: string;
  readonly truncated: boolean;
}

/** How a started command ended, or why it never started. */
export type RunEnd =
  /** `stdout`/`stderr` are absent when larger than INLINE_OUTPUT_MAX: read them from the files. */
  | { readonly exitCode: number; readonly stdout?: Captured; readonly stderr?: Captured }
  /** Not started (nothing ran; the run directory is removed). `errno` as spawn gave it. */
  | { readonly error: string; readonly errno?: string }
  /** Its exit code is lost: the starter died while it ran. */
  | { readonly lost: string };

/** A start: the directory was there already (an earlier run of the message), or a command. */
export type RunStart =
  | { readonly earlier: true }
  | { readonly pid: number | undefined; readonly ended: Promise<RunEnd> };

/** This process's identity, as recorded in meta.json. */
export function selfIdentity(): ProcessIdentity {
  const startTime = processStartTime(process.pid);
  return startTime === undefined ? { pid: process.pid } : { pid: process.pid, startTime };
}

/** Output of at most this many bytes per stream travels back with the exit code. */
export const INLINE_OUTPUT_MAX = 64 * 1024;

/** Reads `file` up to `cap` bytes (never cutting a UTF-8 character); missing reads as empty. */
export async function readCapped(file: string, cap: number): Promise<Captured> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', truncated: false };
    throw err;
  }
  try {
    const { size } = await handle.stat();
    const want = Math.min(size, cap + 4); // a few bytes more to finish a cut character
    const buf = Buffer.alloc(want);
    const { bytesRead } = await handle.read(buf, 0, want, 0);
    return capped(buf.subarray(0, bytesRead), size, cap);
  } finally {
    await handle.close();
  }
}

/** `bytes` (the start of a file of `size` bytes) as text, cut at `cap` with a note when longer. */
function capped(bytes: Buffer, size: number, cap: number): Captured {
  if (size <= cap) return { text: bytes.toString('utf8'), truncated: false };
  return {
    text: cutUtf8(bytes, cap).toString('utf8') + truncationNote(cap, size),
    truncated: true,
  };
}

/**
 * A stream's output if it is small enough to travel back with the exit code (undefined if not),
 * read synchronously: in the helper that is cheaper than four trips through the thread pool.
 */
function smallOutput(file: string, cap: number): Captured | undefined {
  try {
    const size = statSync(file).size;
    if (size > INLINE_OUTPUT_MAX) return undefined;
    const bytes = readFileSync(file);
    return capped(bytes.subarray(0, Math.min(bytes.length, cap + 4)), bytes.length, cap);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT'
      ? { text: '', truncated: false }
      : undefined;
  }
}

/** The exit code a finished run recorded; undefined while there is none (or it is being written). */
export function readExitCode(runDir: string): number | undefined {
  try {
    const code = Number.parseInt(readFileSync(join(runDir, 'exit'), 'utf8').trim(), 10);
    return Number.isNaN(code) ? undefined : code;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The command's identity from the `pid` file; undefined while there is none. */
export function readRunPid(runDir: string): ProcessIdentity | undefined {
  let text: string;
  try {
    text = readFileSync(join(runDir, 'pid'), 'utf8');
  } catch {
    return undefined;
  }
  const [pidText, startText] = text.trim().split(' ');
  const pid = Number.parseInt(pidText ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 1) return undefined;
  const startTime = Number.parseInt(startText ?? '', 10);
  return Number.isInteger(startTime) ? { pid, startTime } : { pid };
}

/** meta.json; undefined when missing or not yet whole. */
export function readMeta(runDir: string): RunMeta | undefined {
  try {
    return JSON.parse(readFileSync(join(runDir, 'meta.json'), 'utf8')) as RunMeta;
  } catch {
    return undefined;
  }
}

/** What a shell reports for a command that `signal` killed: 128 + its number. */
function shellExitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal === null ? undefined : osConstants.signals[signal];
  return n === undefined ? 255 : 128 + n;
}

/** The command's environment: the starter's own, less `unset`, plus `env`. */
function commandEnv(req: RunRequest): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of req.unset ?? []) delete env[name];
  return Object.assign(env, req.env);
}

/**
 * Claims the run directory with its meta.json already in it: both are written in a directory of
 * this process's own, which is then renamed into place (rename(2) is atomic and fails when the
 * run directory is there). So a run directory never exists without its meta.json, and a
 * restarted node that finds none knows no starter is in the middle of claiming it. False when
 * the run directory is there already (an earlier run of the message).
 */
function claimRunDir(runDir: string, meta: RunMeta): boolean {
  // rename(2) replaces an empty directory: one there already (left by an older version's claim)
  // is an earlier run all the same.
  if (existsSync(runDir)) return false;
  const staging = `${runDir}.claim-${process.pid}`;
  try {
    mkdirSync(staging, { mode: 0o700 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') mkdirSync(dirname(runDir), { recursive: true, mode: 0o700 });
    // Left by a process of this pid that died while claiming: not a claim of anyone alive.
    else if (code === 'EEXIST') rmSync(staging, { recursive: true, force: true });
    else throw err;
    mkdirSync(staging, { mode: 0o700 });
  }
  try {
    writeFileSync(join(staging, 'meta.json'), JSON.stringify(meta), { mode: 0o600 });
    renameSync(staging, runDir);
    return true;
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTEMPTY') return false;
    throw err;
  }
}

/**
 * Starts `req` in its run directory, as the command's parent: creates the directory (or reports
 * an earlier run), records meta.json, spawns the program (leading its own group, setsid) with its
 * output in files, records its pid, and once it ended records its exit code and reads small
 * output back. Synchronous file work up to the spawn: it runs in the spawner helper, whose thread
 * does nothing else.
 */
export function startRun(req: RunRequest): RunStart {
  const { runDir } = req;
  if (!claimRunDir(runDir, { ...req.meta, starter: selfIdentity() })) return { earlier: true };
  let child: ChildProcess;
  const out = openSync(join(runDir, 'stdout'), 'w', 0o600);
  try {
    const err = openSync(join(runDir, 'stderr'), 'w', 0o600);
    try {
      child = spawn(req.file, req.args, {
        cwd: req.cwd,
        env: commandEnv(req),
        detached: true,
        stdio: ['ignore', out, err],
      });
    } finally {
      closeSync(err);
    }
  } catch (err) {
    removeRun(runDir);
    return { pid: undefined, ended: Promise.resolve({ error: String(err) }) };
  } finally {
    closeSync(out);
  }
  const pid = child.pid;
  if (pid === undefined) {
    // Not started (ENOENT, EACCES): nothing ran, so nothing is left to recover.
    const ended = new Promise<RunEnd>((resolve) => {
      child.once('error', (err: NodeJS.ErrnoException) => {
        removeRun(runDir);
        resolve({ error: err.message, ...(err.code === undefined ? {} : { errno: err.code }) });
      });
    });
    return { pid, ended };
  }
  const startTime = processStartTime(pid);
  writeFileSync(join(runDir, 'pid'), `${pid} ${startTime ?? ''}\n`, { mode: 0o600 });
  const ended = new Promise<RunEnd>((resolve) => {
    child.once('exit', (code, signal) => {
      const exitCode = shellExitCode(code, signal);
      try {
        writeFileSync(join(runDir, 'exit'), `${exitCode}\n`, { mode: 0o600 });
      } catch {
        // The directory went away meanwhile: the asker still hears the exit code.
      }
      // Small output travels back with the exit code; larger output is read from the files by
      // the node, so it is not held here and in the message channel as well.
      const stdout = smallOutput(join(runDir, 'stdout'), req.cap);
      const stderr = stdout && smallOutput(join(runDir, 'stderr'), req.cap);
      resolve(stdout && stderr ? { exitCode, stdout, stderr } : { exitCode });
    });
  });
  return { pid, ended };
}

/** The files a run directory holds (see the top of this file). */
const RUN_FILES = ['meta.json', 'pid', 'stdout', 'stderr', 'exit'];

/**
 * Removes a run directory once its result is committed: its known files one by one, then the
 * directory (a third of the work of a generic recursive removal); anything unexpected in it
 * falls back to the recursive one. A directory that is gone already is fine.
 */
export function removeRun(runDir: string): void {
  for (const name of RUN_FILES) {
    try {
      unlinkSync(join(runDir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') break;
    }
  }
  try {
    rmdirSync(runDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      rmSync(runDir, { recursive: true, force: true });
    }
  }
}
