import { type ChildProcess, spawn } from 'node:child_process';
import { CLI } from './fleet.js';

// One `admiral` process of a test (up, node start …), its output kept, stopped by SIGTERM (then
// SIGKILL after 5 s). Joining nodes ask central again every second, and no test binds the
// discovery responder's fixed UDP port.

export interface AdmiralProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

export function spawnAdmiral(args: readonly string[], cwd: string): AdmiralProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ADMIRAL_JOIN__RETRY_INTERVAL: '1',
      ADMIRAL_CENTRAL__DISCOVERY__PORT: '0',
    },
  });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => {
    text += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    text += d.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return { child, output: () => text, exited };
}

/** Polls `pred` every 50 ms; throws with the process's output after `ms`. */
export async function untilOutput(
  what: string,
  pred: () => boolean,
  proc: AdmiralProcess,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline)
      throw new Error(`${what} did not happen within ${ms} ms; output:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function stopAdmiral(p: AdmiralProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  await p.exited;
  clearTimeout(timer);
}
