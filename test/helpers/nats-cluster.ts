import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { type ConnectionOptions, connect, type NatsConnection } from '@nats-io/transport-node';
import { requireNatsServer } from './nats-server.js';
import { closedTcpPort } from './ports.js';

// A cluster of nats-server processes joined by routes on loopback, for scale-out tests (DESIGN.md:
// "for more than one machine's worth of fleet, point everything at a real nats-server cluster").
// Every port is chosen by the servers themselves (-1) and read back from their logs; each server
// routes to those started before it (a full mesh forms by gossip), and `startNatsCluster` returns
// only once a message published on any server reaches a subscriber on every other one.

export interface ClusterServer {
  readonly name: string;
  /** Client URL, nats://127.0.0.1:PORT. */
  readonly url: string;
  readonly port: number;
  /** Route (cluster) port. */
  readonly clusterPort: number;
  readonly child: ChildProcess;
  /** Everything the server logged so far. */
  log(): string;
  /** SIGKILL: the server dies as in a crash. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after 2 s. */
  stop(): Promise<void>;
}

export interface NatsCluster {
  readonly servers: readonly ClusterServer[];
  /** Every client URL, comma separated (what `--broker` and `broker.url` take). */
  readonly urls: string;
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  /** Servers in the cluster; default 3. */
  readonly size?: number;
  /** ms to wait for each server to listen and for the routes to carry messages; default 15000. */
  readonly timeoutMs?: number;
  /** Configuration text of each server (by name, e.g. `n1`, and the cluster's folder), passed with `-c`. */
  readonly config?: (name: string, dir: string) => string;
  /** How the route probe logs in (servers that require authentication). */
  readonly probe?: Pick<ConnectionOptions, 'authenticator' | 'tls'>;
  /** Run JetStream on every server (store in the cluster's temporary folder); default false. */
  readonly jetstream?: boolean;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function startServer(
  bin: string,
  name: string,
  dir: string,
  routes: readonly number[],
  timeoutMs: number,
  config: string | undefined,
  jetstream: boolean,
  clusterPort = -1,
): Promise<ClusterServer> {
  const configFile = join(dir, `${name}.conf`);
  if (config !== undefined) await writeFile(configFile, config);
  const args = [
    ...(config !== undefined ? ['-c', configFile] : []),
    ...(jetstream ? ['-js', '-sd', join(dir, name)] : []),
    '-a',
    '127.0.0.1',
    '-p',
    '-1',
    '-n',
    name,
    '--cluster_name',
    'admiral-test',
    '-cluster',
    `nats://127.0.0.1:${clusterPort}`,
    ...(routes.length > 0 ? ['-routes', routes.map((p) => `nats://127.0.0.1:${p}`).join(',')] : []),
  ];
  const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const ports = new Promise<{ port: number; clusterPort: number }>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      text += d.toString('utf8');
      const client = /Listening for client connections on \S+:(\d+)/.exec(text);
      const route = /Listening for route connections on \S+:(\d+)/.exec(text);
      if (client && route) resolve({ port: Number(client[1]), clusterPort: Number(route[1]) });
    };
    child.stderr.on('data', onData);
    child.stdout.on('data', onData);
    child.once('exit', (code, signal) =>
      reject(new Error(`nats-server ${name} exited (code ${code}, signal ${signal}):\n${text}`)),
    );
    setTimeout(
      () =>
        reject(new Error(`nats-server ${name} did not listen within ${timeoutMs} ms:\n${text}`)),
      timeoutMs,
    ).unref();
  });
  const kill = async (): Promise<void> => {
    child.kill('SIGKILL');
    await exited(child);
  };
  let p: { port: number; clusterPort: number };
  try {
    p = await ports;
  } catch (err) {
    await kill();
    throw err;
  }
  return {
    name,
    url: `nats://127.0.0.1:${p.port}`,
    port: p.port,
    clusterPort: p.clusterPort,
    child,
    log: () => text,
    kill,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const force = setTimeout(() => child.kill('SIGKILL'), 2000);
      child.kill('SIGTERM');
      await exited(child);
      clearTimeout(force);
    },
  };
}

/** Waits until a publish on every server reaches a subscriber on every other server. */
async function waitForRoutes(
  servers: readonly ClusterServer[],
  timeoutMs: number,
  probe: Pick<ConnectionOptions, 'authenticator' | 'tls'> = {},
): Promise<void> {
  const conns: NatsConnection[] = [];
  try {
    for (const s of servers) {
      conns.push(await connect({ ...probe, servers: s.url, name: 'cluster-probe' }));
    }
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < conns.length; i++) {
      const subject = `_probe.routes.${i}`;
      const sub = conns[i]!.subscribe(subject);
      await conns[i]!.flush();
      const heard = new Set<number>();
      const listening = (async () => {
        for await (const m of sub) {
          heard.add(Number(Buffer.from(m.data).toString()));
          if (heard.size === conns.length - 1) return;
        }
      })();
      while (heard.size < conns.length - 1) {
        if (Date.now() > deadline) {
          throw new Error(
            `routes not up within ${timeoutMs} ms: server ${servers[i]!.name} heard from ${[...heard].join(',') || 'none'}\n${servers.map((s) => s.log()).join('\n')}`,
          );
        }
        for (let j = 0; j < conns.length; j++) if (j !== i) conns[j]!.publish(subject, String(j));
        await Promise.race([listening, new Promise((r) => setTimeout(r, 100))]);
      }
      sub.unsubscribe();
    }
  } finally {
    for (const c of conns) await c.close();
  }
}

/** Waits until JetStream answers on every server (the cluster elected its meta leader). */
async function waitForJetStream(
  servers: readonly ClusterServer[],
  timeoutMs: number,
  probe: Pick<ConnectionOptions, 'authenticator' | 'tls'> = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const s of servers) {
    const nc = await connect({ ...probe, servers: s.url, name: 'jetstream-probe' });
    try {
      for (;;) {
        try {
          await (await jetstreamManager(nc)).getAccountInfo();
          break;
        } catch (err) {
          if (Date.now() > deadline) {
            throw new Error(`JetStream not up on ${s.name} within ${timeoutMs} ms: ${String(err)}`);
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    } finally {
      await nc.close();
    }
  }
}

/** Starts the cluster without a test context; the caller must call stop(). */
export async function launchNatsCluster(
  bin: string,
  options: NatsClusterOptions = {},
): Promise<NatsCluster> {
  const size = options.size ?? 3;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const dir = await mkdtemp(join(tmpdir(), 'admiral-nats-cluster-'));
  const servers: ClusterServer[] = [];
  const stop = async (): Promise<void> => {
    for (const s of servers) await s.stop();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // JetStream in a cluster wants configured routes on every server, the first too: it routes
    // to its own port (nats-server drops a route to itself), chosen free just before.
    const firstPort = await closedTcpPort();
    for (let i = 0; i < size; i++) {
      servers.push(
        await startServer(
          bin,
          `n${i + 1}`,
          dir,
          i === 0 ? [firstPort] : servers.map((s) => s.clusterPort),
          timeoutMs,
          options.config?.(`n${i + 1}`, dir),
          options.jetstream ?? false,
          i === 0 ? firstPort : -1,
        ),
      );
    }
    await waitForRoutes(servers, timeoutMs, options.probe);
    if (options.jetstream) await waitForJetStream(servers, timeoutMs, options.probe);
  } catch (err) {
    await stop();
    throw err;
  }
  return { servers, urls: servers.map((s) => s.url).join(','), stop };
}

/**
 * Starts a cluster of nats-server processes for the test `t` and stops it when the test ends.
 * Resolves to undefined when nats-server is missing and the test was skipped.
 */
export async function startNatsCluster(
  t: TestContext,
  options: NatsClusterOptions = {},
): Promise<NatsCluster | undefined> {
  const bin = requireNatsServer(t);
  if (bin === undefined) return undefined;
  const cluster = await launchNatsCluster(bin, options);
  t.after(() => cluster.stop());
  return cluster;
}
