// Starts detached commands through a helper process (spawner-child.ts) instead of from the node's
// own process: a spawn forks the caller, and forking a node with a large heap and an open SQLite
// store costs its main thread ≈ 3-4 ms per command (bench/messaging), time the node's messaging
// needs. The helper is forked once, on first use, and ends with the node. If it cannot start or
// dies, commands are spawned directly, and a run whose helper died is followed by polling its
// process until it is gone (its result is in its run files either way).
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { processAlive } from './process-group.js';

export interface SpawnRequest {
  readonly id: number;
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: Record<string, string | undefined>;
}

export type SpawnReply =
  | { readonly id: number; readonly pid: number }
  | { readonly id: number; readonly error: string }
  | {
      readonly id: number;
      readonly exit: { readonly code: number | null; readonly signal: NodeJS.Signals | null };
    };

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A started process group: its leader's pid, and how the leader ended (or why it never ran). */
export interface SpawnedGroup {
  readonly pid: number | undefined;
  readonly ended: Promise<ExitStatus | Error>;
}

interface Pending {
  pid: number | undefined;
  started: (pid: number | undefined) => void;
  ended: (status: ExitStatus | Error) => void;
}

const HELPER = fileURLToPath(new URL('./spawner-child.js', import.meta.url));
const POLL_MS = 50;

let helper: ChildProcess | undefined;
let broken = false;
let nextId = 1;
const pending = new Map<number, Pending>();

/** The helper died: whatever it had started is followed by polling. */
function orphaned(): void {
  helper = undefined;
  const left = [...pending.values()];
  pending.clear();
  for (const p of left) {
    if (p.pid === undefined) {
      p.started(undefined);
      p.ended(new Error('the spawner helper ended before the command started'));
      continue;
    }
    const pid = p.pid;
    const timer = setInterval(() => {
      // The wrapper itself, not its group: processes it left in the background may run on.
      if (processAlive(pid)) return;
      clearInterval(timer);
      p.ended({ code: null, signal: null });
    }, POLL_MS);
  }
}

function onReply(reply: SpawnReply): void {
  const p = pending.get(reply.id);
  if (p === undefined) return;
  if ('pid' in reply) {
    p.pid = reply.pid;
    p.started(reply.pid);
    return;
  }
  pending.delete(reply.id);
  if (pending.size === 0) hold(helper, false);
  if ('error' in reply) {
    p.started(p.pid);
    p.ended(new Error(reply.error));
  } else {
    p.ended(reply.exit);
  }
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

function startHelper(): ChildProcess | undefined {
  if (broken) return undefined;
  if (helper !== undefined) return helper;
  try {
    const child = fork(HELPER, [], {
      execArgv: [],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'json',
    });
    child.on('message', (m) => onReply(m as SpawnReply));
    child.once('error', () => {
      broken = true;
      if (helper === child) orphaned();
    });
    child.once('exit', () => {
      if (helper === child) orphaned();
    });
    hold(child, false);
    helper = child;
    return child;
  } catch {
    broken = true;
    return undefined;
  }
}

function spawnHere(
  file: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): SpawnedGroup {
  const child = spawn(file, args, { ...options, detached: true, stdio: 'ignore' });
  const ended = new Promise<ExitStatus | Error>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (err) => resolve(err));
  });
  return { pid: child.pid, ended };
}

/**
 * Starts `file args` as the leader of a new process group (setsid), stdio ignored, through the
 * helper process. Resolves once the helper has started it (or failed to).
 */
export function spawnDetached(
  file: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<SpawnedGroup> {
  const h = startHelper();
  if (h === undefined || !h.connected) return Promise.resolve(spawnHere(file, args, options));
  const id = nextId++;
  let started!: (pid: number | undefined) => void;
  let ended!: (status: ExitStatus | Error) => void;
  const startedP = new Promise<number | undefined>((r) => {
    started = r;
  });
  const endedP = new Promise<ExitStatus | Error>((r) => {
    ended = r;
  });
  pending.set(id, { pid: undefined, started, ended });
  hold(h, true);
  const req: SpawnRequest = { id, file, args, cwd: options.cwd, env: options.env };
  h.send(req, (err) => {
    if (err === null || err === undefined) return;
    // Not delivered: spawn here instead.
    pending.delete(id);
    if (pending.size === 0) hold(h, false);
    const here = spawnHere(file, args, options);
    started(here.pid);
    void here.ended.then(ended);
  });
  return startedP.then((pid) => ({ pid, ended: endedP }));
}

/** Stops the helper (tests; a node's exit ends it by itself). */
export function stopSpawner(): void {
  const h = helper;
  helper = undefined;
  if (h?.connected === true) h.disconnect();
}
