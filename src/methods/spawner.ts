// Starts commands through a helper process (spawner-child.ts) instead of from the node's own
// process: a spawn forks the caller, and forking a node with a large heap and an open SQLite
// store costs its main thread ≈ 3-4 ms per command (bench/messaging), time the node's messaging
// needs. The helper is forked once, on first use, in a session of its own (a Ctrl-C meant for
// the node's terminal does not reach it), and ends after the node once its commands have. If it
// cannot start, commands are started from this process by the same code (run-files.ts); a run
// whose helper died is followed by polling its process until it is gone, its exit code lost.
import { type ChildProcess, fork } from 'node:child_process';
import { helperPath } from '../layout.js';
import { withoutSecretEnv } from '../config/secret-env.js';
import { processAlive } from './process-group.js';
import { removeRun, type RunEnd, type RunRequest, type RunStart, startRun } from './run-files.js';
import type { SpawnReply, SpawnRequest } from './spawner-child.js';

interface Pending {
  pid: number | undefined;
  started: (start: RunStart) => void;
  ended: (end: RunEnd) => void;
}

/** Removals asked of the helper: resolve with null when done, or the error's text. */
const removals = new Map<number, (error: string | null) => void>();

const HELPER = helperPath('spawner-child');
const POLL_MS = 50;

let helper: ChildProcess | undefined;
let broken = false;
let nextId = 1;
const pending = new Map<number, Pending>();

/** The helper died: whatever it had started is followed by polling. */
function orphaned(pid: number | undefined): void {
  helper = undefined;
  for (const done of removals.values()) done('the spawner helper ended');
  removals.clear();
  const left = [...pending.values()];
  pending.clear();
  const lost = `the spawner helper${pid === undefined ? '' : ` (pid ${pid})`} ended while the command ran, so its exit code is lost`;
  for (const p of left) {
    if (p.pid === undefined) {
      p.started({ pid: undefined, ended: Promise.resolve({ error: lost }) });
      continue;
    }
    const cmd = p.pid;
    const timer = setInterval(() => {
      // The leader itself, not its group: processes it left in the background may run on.
      if (processAlive(cmd)) return;
      clearInterval(timer);
      p.ended({ lost });
    }, POLL_MS);
  }
}

function onReply(reply: SpawnReply): void {
  if ('removed' in reply) {
    removals.get(reply.id)?.(reply.removed);
    removals.delete(reply.id);
    release(helper);
    return;
  }
  const p = pending.get(reply.id);
  if (p === undefined) return;
  if ('pid' in reply) {
    p.pid = reply.pid;
    p.started({ pid: reply.pid, ended: new Promise<RunEnd>((r) => (p.ended = r)) });
    return;
  }
  pending.delete(reply.id);
  release(helper);
  if ('earlier' in reply) p.started({ earlier: true });
  else if (p.pid === undefined) p.started({ pid: undefined, ended: Promise.resolve(reply.end) });
  else p.ended(reply.end);
}

/**
 * The helper never keeps the node alive by itself: its process and channel are held only while
 * commands it started are outstanding (so their ends, or its death, are heard).
 */
function hold(child: ChildProcess | undefined, held: boolean): void {
  if (held) {
    child?.ref();
    child?.channel?.ref();
  } else {
    child?.unref();
    child?.channel?.unref();
  }
}

/** Lets the helper go once nothing asked of it is outstanding. */
function release(child: ChildProcess | undefined): void {
  if (pending.size === 0 && removals.size === 0) hold(child, false);
}

function startHelper(): ChildProcess | undefined {
  if (broken) return undefined;
  if (helper !== undefined) return helper;
  try {
    const child = fork(HELPER, [String(process.pid)], {
      execArgv: [],
      // The helper is the parent of every command: its /proc/PID/environ must hold no secret.
      env: withoutSecretEnv(process.env),
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'json',
      detached: true,
    });
    child.on('message', (m) => onReply(m as SpawnReply));
    child.once('error', () => {
      broken = true;
      if (helper === child) orphaned(child.pid);
    });
    child.once('exit', () => {
      if (helper === child) orphaned(child.pid);
    });
    hold(child, false);
    helper = child;
    return child;
  } catch {
    broken = true;
    return undefined;
  }
}

/**
 * Starts `run` through the helper process (or here when there is none): resolves once the command
 * started (its pid and a promise of its end), failed to start, or was found started before.
 */
export function spawnRun(run: RunRequest): Promise<RunStart> {
  const h = startHelper();
  if (h === undefined || !h.connected) return Promise.resolve(startRun(run));
  const id = nextId++;
  return new Promise<RunStart>((started) => {
    pending.set(id, { pid: undefined, started, ended: () => undefined });
    hold(h, true);
    const req: SpawnRequest = { id, run };
    h.send(req, (err) => {
      if (err === null || err === undefined) return;
      // Not delivered: start it here instead.
      pending.delete(id);
      release(h);
      try {
        started(startRun(run));
      } catch (e) {
        started({ pid: undefined, ended: Promise.resolve({ error: String(e) }) });
      }
    });
  });
}

/**
 * Removes a run directory whose result is committed, in the helper (a few synchronous unlinks
 * there instead of a recursive removal through this process's thread pool), or here when there
 * is no helper or it failed.
 */
export async function removeRunDir(runDir: string): Promise<void> {
  const h = helper;
  if (h?.connected === true) {
    const id = nextId++;
    const error = await new Promise<string | null>((resolve) => {
      removals.set(id, resolve);
      hold(h, true);
      const req: SpawnRequest = { id, remove: runDir };
      h.send(req, (err) => {
        if (err === null || err === undefined) return;
        removals.delete(id);
        release(h);
        resolve(String(err));
      });
    });
    if (error === null) return;
  }
  removeRun(runDir);
}

/** Stops the helper (tests; a node's exit ends it by itself). */
export function stopSpawner(): void {
  const h = helper;
  helper = undefined;
  if (h?.connected === true) h.disconnect();
}
