import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';

// Starts Debian's nats-server (the reference broker, see DESIGN.md) on 127.0.0.1 and a random port
// for one test. Modelled on nats.js `nst/src/launcher.ts`.

export const NATS_SERVER_INSTALL_HINT =
  'nats-server is not installed: apt-get install -y nats-server (Debian ships v2.9.10)';

export interface NatsServerOptions {
  /** nats-server configuration text, written to a temporary file and passed with `-c`. */
  config?: string;
  /** Write the configuration file into this folder (so relative paths in it resolve there). */
  configDir?: string;
  /** Extra command line arguments. */
  args?: string[];
  /** How long to wait for the server to listen; default 10 s. */
  startTimeoutMs?: number;
}

export interface NatsServerHandle {
  url: string;
  host: string;
  port: number;
  /** The monitoring HTTP port, when the configuration opened one. */
  monitorPort?: number;
  /** The WebSocket port, when the configuration opened one. */
  wsPort?: number;
  /** Everything the server logged up to the point it was listening. */
  startLog: string;
  /** The server's process id. */
  pid: number | undefined;
  /** The configuration file the server was started with, if any. */
  configFile: string | undefined;
  /** Stops the server (SIGTERM, then SIGKILL after 2 s) and removes its temporary files. */
  stop(): Promise<void>;
}

/** The nats-server binary: /usr/sbin/nats-server, or `nats-server` on PATH; undefined if absent. */
export function findNatsServer(): string | undefined {
  const dirs = ['/usr/sbin', '/usr/local/sbin', ...(process.env.PATH ?? '').split(delimiter)];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, 'nats-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Whether nats-server can be used. When it is missing, fails the test with an install hint if
 * ADMIRAL_REQUIRE_NATS_SERVER=1, otherwise marks it skipped. Returns the binary or undefined.
 */
export function requireNatsServer(t: TestContext): string | undefined {
  const bin = findNatsServer();
  if (bin !== undefined) return bin;
  if (process.env.ADMIRAL_REQUIRE_NATS_SERVER === '1') throw new Error(NATS_SERVER_INSTALL_HINT);
  t.skip(NATS_SERVER_INSTALL_HINT);
  return undefined;
}

/**
 * Starts nats-server for the test `t` and stops it when the test ends. Resolves to undefined when
 * the binary is missing and the test was skipped (see requireNatsServer).
 */
export async function startNatsServer(
  t: TestContext,
  options: NatsServerOptions = {},
): Promise<NatsServerHandle | undefined> {
  const bin = requireNatsServer(t);
  if (bin === undefined) return undefined;
  const handle = await launchNatsServer(bin, options);
  t.after(() => handle.stop());
  return handle;
}

/** Starts nats-server without a test context; the caller must call stop(). */
export async function launchNatsServer(
  bin: string,
  options: NatsServerOptions = {},
): Promise<NatsServerHandle> {
  const tmp = await mkdtemp(join(tmpdir(), 'admiral-nats-server-'));
  let configFile: string | undefined;
  const args = ['-a', '127.0.0.1', '-p', '-1'];
  if (options.config !== undefined) {
    configFile = join(options.configDir ?? tmp, `nats-server-${process.pid}-${Date.now()}.conf`);
    await writeFile(configFile, options.config);
    args.unshift('-c', configFile);
  }
  args.push(...(options.args ?? []));
  // nats-server resolves relative paths in its config (tls cert_file, …) against its working
  // directory, not the config file: run it in the config's folder so both readings agree.
  const child = spawn(bin, args, {
    cwd: options.configDir ?? tmp,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await killChild(child);
      if (configFile !== undefined && options.configDir !== undefined) {
        await rm(configFile, { force: true });
      }
      await rm(tmp, { recursive: true, force: true });
    })();
    return stopped;
  };
  try {
    const { port, log } = await waitForListening(child, options.startTimeoutMs ?? 10_000);
    // e.g. "Starting http monitor on 127.0.0.1:8222", "Listening for websocket clients on ws://127.0.0.1:8080"
    const monitor = /Starting https? monitor on \S+:(\d+)/.exec(log);
    const ws = /Listening for websocket clients on wss?:\/\/\S+:(\d+)/.exec(log);
    return {
      url: `nats://127.0.0.1:${port}`,
      host: '127.0.0.1',
      port,
      ...(monitor && { monitorPort: Number(monitor[1]) }),
      ...(ws && { wsPort: Number(ws[1]) }),
      startLog: log,
      pid: child.pid,
      configFile,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function waitForListening(
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ port: number; log: string }> {
  return new Promise((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer): void => {
      log += chunk.toString('utf8');
      // e.g. "[1234] ... [INF] Listening for client connections on 127.0.0.1:38411"
      const m = /Listening for client connections on \S+:(\d+)/.exec(log);
      if (m) {
        done();
        resolve({ port: Number(m[1]), log });
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      done();
      reject(
        new Error(`nats-server exited before listening (code ${code}, signal ${signal}):\n${log}`),
      );
    };
    const onError = (err: Error): void => {
      done();
      reject(new Error(`cannot start nats-server: ${err.message}`, { cause: err }));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`nats-server did not listen within ${timeoutMs} ms:\n${log}`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      // Keep draining the pipes so a chatty server never blocks on a full pipe.
      child.stderr?.resume();
      child.stdout?.resume();
    };
    child.stderr?.on('data', onData);
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
