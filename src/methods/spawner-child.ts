// The spawner helper process (spawner.ts): a small Node process that starts commands for the
// node. Forking copies the parent's page tables, so a spawn from the node's large process costs
// its main thread milliseconds per command; here it costs a small heap's worth, on another
// core. Each request starts one detached (setsid) child with its output ignored, answers with
// its pid, then with how it exited. The helper ends when the node disconnects; the commands it
// started do not (they lead their own groups and write their results to files).
import { spawn } from 'node:child_process';
import type { SpawnReply, SpawnRequest } from './spawner.js';

// A node that ended between the check and the write breaks the channel (EPIPE): with a
// callback that is an error passed to it, not an unhandled 'error' event that crashes the
// helper with a stack trace; 'disconnect' ends the helper right after.
const send = (reply: SpawnReply): void => {
  if (process.connected) process.send?.(reply, undefined, {}, () => undefined);
};

process.on('message', (req: SpawnRequest) => {
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(req.file, req.args, {
      cwd: req.cwd,
      env: req.env,
      detached: true,
      stdio: 'ignore',
    });
  } catch (err) {
    send({ id: req.id, error: String(err instanceof Error ? err.message : err) });
    return;
  }
  child.once('error', (err) => send({ id: req.id, error: err.message }));
  child.once('exit', (code, signal) => send({ id: req.id, exit: { code, signal } }));
  if (child.pid !== undefined) send({ id: req.id, pid: child.pid });
});
process.on('disconnect', () => process.exit(0));
