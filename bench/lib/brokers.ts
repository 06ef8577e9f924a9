// Starts the brokers a benchmark compares, each in its own process so that neither shares an
// event loop with the benchmark's clients: admiral's embedded broker and Debian's nats-server.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { CLI_BUNDLE } from '../../src/layout.js';

export interface BrokerProcess {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  /** Resident memory of the broker process, in bytes (from /proc). */
  rss(): number;
  stop(): Promise<void>;
}

const CLI = CLI_BUNDLE;

export function natsServerPath(): string | undefined {
  for (const p of ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    if (existsSync(p)) return p;
  }
  return undefined;
}

function waitForLine(child: ChildProcess, pattern: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} did not start within 10 s; output:\n${seen}`));
    }, 10_000);
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString();
      const m = pattern.exec(seen);
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        resolve(m);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}; output:\n${seen}`));
    });
  });
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 5000).unref();
    });
}

/** `extraArgs` go to both brokers alike (nats-server's flag spellings, e.g. `-m -1 -c FILE`). */
export async function startEmbedded(extraArgs: readonly string[] = []): Promise<BrokerProcess> {
  const child = spawn(process.execPath, [CLI, 'broker', 'start', '--port', '0', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const m = await waitForLine(child, /broker listening on (nats:\/\/\S+)/, 'admiral broker');
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    name: 'embedded',
    url: m[1]!,
    pid: child.pid!,
    rss: () => rssOf(child.pid!),
    stop: stopper(child),
  };
}

export async function startNatsServer(extraArgs: readonly string[] = []): Promise<BrokerProcess> {
  const bin = natsServerPath();
  if (!bin) throw new Error('nats-server not found: apt-get install -y nats-server');
  const child = spawn(bin, [...extraArgs, '-a', '127.0.0.1', '-p', '-1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const m = await waitForLine(
    child,
    /Listening for client connections on (\S+):(\d+)/,
    'nats-server',
  );
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    name: 'nats-server',
    url: `nats://127.0.0.1:${m[2]}`,
    pid: child.pid!,
    rss: () => rssOf(child.pid!),
    stop: stopper(child),
  };
}
