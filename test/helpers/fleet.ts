import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { submitToSocket } from '../../src/cli/system.js';
import type { SubmitResult } from '../../src/node/inputs/types.js';
import { Outbox, type OutboxRecord, type OutboxState } from '../../src/store/outbox.js';
import { CLI_BUNDLE } from '../../src/layout.js';

// A real fleet for tests: `admiral up` (embedded broker + central) and `admiral node start`
// processes, each with its own data dir under one temp folder. Everything is stopped in t.after.

/** The CLI users run: the bundle (scripts/build-cli.mjs), so that what is tested is what ships. */
export const CLI = CLI_BUNDLE;

export interface NodeProcess {
  readonly name: string;
  readonly dataDir: string;
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** SIGKILL, no cleanup: as a crash. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** Starts the same node again (same name, data dir, arguments); `env` replaces the extra environment. */
  restart(env?: Readonly<Record<string, string>>): Promise<void>;
}

export interface Fleet {
  readonly dir: string;
  readonly brokerUrl: string;
  readonly central: NodeProcess;
  readonly nodes: Map<string, NodeProcess>;
  startNode(
    name: string,
    args?: readonly string[],
    env?: Readonly<Record<string, string>>,
  ): Promise<NodeProcess>;
  /**
   * Starts one process hosting several nodes (data dirs `<dir>/<name>`), for many nodes on a
   * small machine; kill9() crashes all of them at once. `flags` are config keys for every node.
   */
  startHost(
    name: string,
    nodeNames: readonly string[],
    flags?: Readonly<Record<string, unknown>>,
  ): Promise<NodeProcess>;
  /** Runs an admiral CLI command to its end, in the fleet's folder. */
  cli(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Submits raw input (JSON text or objects) through `from`'s unix socket. */
  send(from: string, messages: string | readonly Record<string, unknown>[]): Promise<SubmitResult>;
  /** The sender's outbox record of `id`. */
  record(from: string, id: string): OutboxRecord | undefined;
  /** Waits until `from`'s outbox holds `id` in one of `states`; throws with the record after `timeoutMs`. */
  waitFor(
    from: string,
    id: string,
    states: readonly OutboxState[],
    timeoutMs?: number,
  ): Promise<OutboxRecord>;
  stop(): Promise<void>;
}

function waitForLine(
  child: ChildProcess,
  out: () => string,
  pattern: RegExp,
  what: string,
  timeoutMs = 15_000,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} did not start within ${timeoutMs} ms; output:\n${out()}`));
    }, timeoutMs);
    const check = (): void => {
      const m = pattern.exec(out());
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`${what} exited with ${code}; output:\n${out()}`));
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', check);
      child.stderr?.off('data', check);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

/** Hosts several nodes in one process (test/node/fixtures/node-host.ts). */
export const NODE_HOST = fileURLToPath(new URL('../node/fixtures/node-host.js', import.meta.url));

function spawnCli(
  args: readonly string[],
  cwd: string,
  env: Readonly<Record<string, string>> = {},
): { child: ChildProcess; output: () => string } {
  // args[0] may name another script to run (the node host) instead of the CLI.
  const script = args[0] === NODE_HOST ? [] : [CLI];
  const child = spawn(process.execPath, [...script, ...args], {
    cwd,
    // A central's discovery responder takes any free port in tests (servers in tests listen on
    // port 0); a test that exercises discovery sets its own (in its environment or `env`).
    env: { ADMIRAL_CENTRAL__DISCOVERY__PORT: '0', ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => {
    text += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    text += d.toString();
  });
  return { child, output: () => text };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function nodeProcess(
  name: string,
  dataDir: string,
  args: readonly string[],
  cwd: string,
  ready: RegExp,
  env: Readonly<Record<string, string>> = {},
  startTimeoutMs = 15_000,
): Promise<NodeProcess> {
  let extraEnv = env;
  const proc: NodeProcess = {
    name,
    dataDir,
    child: undefined as unknown as ChildProcess,
    output: () => '',
    kill9: async () => {
      proc.child.kill('SIGKILL');
      await exited(proc.child);
    },
    stop: async () => {
      proc.child.kill('SIGTERM');
      const timer = setTimeout(() => proc.child.kill('SIGKILL'), 5000);
      await exited(proc.child);
      clearTimeout(timer);
    },
    restart: async (newEnv) => {
      await proc.stop();
      if (newEnv) extraEnv = newEnv;
      await launch();
    },
  };
  const launch = async (): Promise<void> => {
    const { child, output } = spawnCli(args, cwd, extraEnv);
    proc.child = child;
    proc.output = output;
    try {
      await waitForLine(child, output, ready, name, startTimeoutMs);
    } catch (err) {
      // A node that never came up must not outlive the test (its pipes would hold the runner).
      child.kill('SIGKILL');
      throw err;
    }
  };
  return launch().then(() => proc);
}

export interface FleetOptions {
  /** Nodes to start besides central; default ['ship1', 'ship2']. */
  nodes?: readonly string[];
  /** Extra arguments for every `node start`. */
  nodeArgs?: readonly string[];
  /**
   * Use this broker (e.g. a nats-server) instead of `admiral up`: central is then started as
   * `admiral node start --name central --central-role`, with `nodeArgs` too.
   */
  brokerUrl?: string;
  /** Use this folder, made by the test (e.g. with identities it already made), not a new one. */
  dir?: string;
}

export function runCli(
  args: readonly string[],
  cwd: string,
  env: Readonly<Record<string, string>> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts `admiral up` and the given nodes in a temp folder; everything stops in t.after. */
export async function startFleet(t: TestContext, options: FleetOptions = {}): Promise<Fleet> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'admiral-fleet-')));
  const centralDir = join(dir, 'admiral-data');
  const central =
    options.brokerUrl === undefined
      ? await nodeProcess(
          'central',
          centralDir,
          ['up', '--broker-port', '0', '--http-listen', '127.0.0.1:0', '--data-dir', centralDir],
          dir,
          /admiral is up[\s\S]*data dir:/,
        )
      : await nodeProcess(
          'central',
          centralDir,
          [
            'node',
            'start',
            '--name',
            'central',
            '--central-role',
            '--data-dir',
            centralDir,
            '--broker',
            options.brokerUrl,
            ...(options.nodeArgs ?? []),
          ],
          dir,
          /node \S+ is up/,
        );
  const brokerUrl =
    options.brokerUrl ?? /broker:\s+(nats:\/\/\S+)/.exec(central.output())?.[1] ?? '';
  const nodes = new Map<string, NodeProcess>([['central', central]]);
  const dbs = new Map<string, Database.Database>();
  const outbox = (from: string): Outbox => {
    const proc = nodes.get(from);
    if (!proc) throw new Error(`no node ${from} in this fleet`);
    let db = dbs.get(from);
    if (!db) {
      db = new Database(join(proc.dataDir, 'admiral.db'), { readonly: true, fileMustExist: true });
      dbs.set(from, db);
    }
    return new Outbox(db);
  };
  const fleet: Fleet = {
    dir,
    brokerUrl,
    central,
    nodes,
    cli: (args) => runCli(args, dir),
    async startHost(name, nodeNames, flags = {}) {
      const spec = {
        brokerUrl,
        nodes: nodeNames.map((n) => ({ name: n, dataDir: join(dir, n) })),
        flags,
      };
      const proc = await nodeProcess(
        name,
        dir,
        [NODE_HOST, JSON.stringify(spec)],
        dir,
        /nodes up:/,
        {},
        // Several nodes start one after the other, each settling what it was running when
        // killed, on a machine the test itself keeps busy.
        45_000,
      );
      // Each hosted node is reachable by name (its data dir) for send/record/waitFor.
      for (const n of nodeNames) nodes.set(n, { ...proc, name: n, dataDir: join(dir, n) });
      nodes.set(name, proc);
      return proc;
    },
    async startNode(name, args = [], env = {}) {
      const dataDir = join(dir, name);
      const proc = await nodeProcess(
        name,
        dataDir,
        [
          'node',
          'start',
          '--name',
          name,
          '--data-dir',
          dataDir,
          '--broker',
          brokerUrl,
          ...(options.nodeArgs ?? []),
          ...args,
        ],
        dir,
        /node \S+ is up/,
        env,
      );
      nodes.set(name, proc);
      return proc;
    },
    send(from, messages) {
      const proc = nodes.get(from);
      if (!proc) throw new Error(`no node ${from} in this fleet`);
      const raw = typeof messages === 'string' ? messages : JSON.stringify(messages);
      return submitToSocket(proc.dataDir, Buffer.from(raw));
    },
    record(from, id) {
      return outbox(from).get(id);
    },
    async waitFor(from, id, states, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const rec = outbox(from).get(id);
        if (rec && states.includes(rec.state)) return rec;
        if (Date.now() > deadline) {
          throw new Error(
            `message ${id} on ${from} is ${rec?.state ?? 'unknown'} after ${timeoutMs} ms, expected ${states.join('|')}: ${JSON.stringify(rec ?? null)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      for (const db of dbs.values()) db.close();
      dbs.clear();
      for (const proc of [...nodes.values()].reverse()) await proc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  t.after(() => fleet.stop());
  for (const name of options.nodes ?? ['ship1', 'ship2']) await fleet.startNode(name);
  return fleet;
}
