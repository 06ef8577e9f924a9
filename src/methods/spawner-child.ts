// The spawner helper process (spawner.ts): a small Node process that starts commands for the
// node. Forking copies the parent's page tables, so a spawn from the node's large process costs
// its main thread milliseconds per command; here it costs a small heap's worth, on another
// core. Each request starts one command in its run directory (run-files.ts): the helper is the
// command's parent, answers with its pid, then with its exit code and output, and records both
// in the run directory. When the node goes away (stopped, or killed with -9) the helper stays
// until the commands it started have ended and their exit codes are written, then exits: a
// restarted node reads them there.
import { removeRun, type RunEnd, type RunRequest, startRun } from './run-files.js';

/** A request from the node: start `run`, or remove a run directory; `id` names it in the answers. */
export type SpawnRequest =
  | { readonly id: number; readonly run: RunRequest }
  | { readonly id: number; readonly remove: string };

export type SpawnReply =
  | { readonly id: number; readonly removed: string | null }
  | { readonly id: number; readonly earlier: true }
  | { readonly id: number; readonly pid: number }
  | { readonly id: number; readonly end: RunEnd };

let running = 0;

/**
 * The node that forked this helper (its pid is the first argument). Requests it sent just
 * before it died are still read from the channel after its death; they are not started: its
 * successor recovers those messages, finds no run directory, and runs them itself, so a late
 * start here would be a second run.
 */
const parent = Number.parseInt(process.argv[2] ?? '', 10);
const parentGone = (): boolean => Number.isInteger(parent) && process.ppid !== parent;

// A node that ended between the check and the write breaks the channel (EPIPE): with a
// callback that is an error passed to it, not an unhandled 'error' event that crashes the
// helper with a stack trace.
const send = (reply: SpawnReply): void => {
  if (process.connected) process.send?.(reply, undefined, {}, () => undefined);
};

const exitWhenIdle = (): void => {
  if (!process.connected && running === 0) process.exit(0);
};

process.on('message', (req: SpawnRequest) => {
  if ('remove' in req) {
    try {
      removeRun(req.remove);
      send({ id: req.id, removed: null });
    } catch (err) {
      send({ id: req.id, removed: err instanceof Error ? err.message : String(err) });
    }
    return;
  }
  if (parentGone()) return;
  let start: ReturnType<typeof startRun>;
  try {
    start = startRun(req.run);
  } catch (err) {
    send({ id: req.id, end: { error: err instanceof Error ? err.message : String(err) } });
    return;
  }
  if ('earlier' in start) {
    send({ id: req.id, earlier: true });
    return;
  }
  running++;
  if (start.pid !== undefined) send({ id: req.id, pid: start.pid });
  void start.ended.then((end) => {
    running--;
    send({ id: req.id, end });
    exitWhenIdle();
  });
});
process.on('disconnect', exitWhenIdle);
// Its stderr is the node's: once a killed node's pipe is gone, a warning written there must not
// crash the helper while it still keeps exit codes.
process.stderr.on('error', () => undefined);
