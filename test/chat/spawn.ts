import { spawn } from 'node:child_process';
import type { TestContext } from 'node:test';
import { CLI, type NodeProcess } from '../helpers/fleet.js';

/** Starts an admiral CLI command that runs until stopped; waits for `ready`; stopped in t.after. */
export async function spawnCliProcess(
  t: TestContext,
  name: string,
  args: readonly string[],
  cwd: string,
  ready: RegExp,
  env: Readonly<Record<string, string>> = {},
  timeoutMs = 15_000,
): Promise<NodeProcess> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const onData = (d: Buffer): void => {
    text += d.toString();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = (): Promise<void> =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise((r) => child.once('exit', () => r()));
  const proc: NodeProcess = {
    name,
    dataDir: cwd,
    child,
    output: () => text,
    kill9: async () => {
      child.kill('SIGKILL');
      await exited();
    },
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited();
      clearTimeout(timer);
    },
    restart: () => Promise.reject(new Error('not supported')),
  };
  t.after(() => proc.stop());
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within ${timeoutMs} ms; output:\n${text}`));
    }, timeoutMs);
    const check = (): void => {
      if (ready.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}; output:\n${text}`));
    });
  });
  return proc;
}
