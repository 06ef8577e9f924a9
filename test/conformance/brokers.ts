import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { loadBrokerConfigFile } from '../../src/broker/conf.js';
import { Broker } from '../../src/broker/index.js';
import { startNatsServer } from '../helpers/nats-server.js';

// The conformance harness: every case runs against the embedded broker and against nats-server,
// both started from the same nats-server configuration text (src/broker/conf.ts reads it for the
// embedded broker), and must observe the same behaviour.

export const BROKER_KINDS = ['embedded', 'nats-server'] as const;
export type BrokerKind = (typeof BROKER_KINDS)[number];

export interface BrokerUnderTest {
  kind: BrokerKind;
  url: string;
  host: string;
  port: number;
  /** `http://127.0.0.1:<port>` of the monitoring endpoint, when the config opens one. */
  monitorUrl?: string;
  /** The WebSocket listener's port, when the config opens one. */
  wsPort?: number;
  /** Puts the broker in lame duck mode (nats-server: SIGUSR2, as `nats-server --signal ldm`). */
  lameDuck(): void;
  /** The configuration file the broker was started from, if any. */
  configFile?: string;
  /** Re-reads `configFile` (nats-server: SIGHUP, as `--signal reload`); resolves once sent. */
  reload(): Promise<void>;
}

export interface BrokerSetup {
  /** nats-server configuration text; a function gets the folder the file will be written to. */
  config?: string | ((dir: string) => string | Promise<string>);
  /** Folder for the configuration file (relative paths in it resolve there); default a temp dir. */
  configDir?: () => string;
  /** Per-run time limit; default 15 s. */
  timeoutMs?: number;
}

async function writeConfig(t: TestContext, setup: BrokerSetup): Promise<string | undefined> {
  if (setup.config === undefined) return undefined;
  const dir = setup.configDir?.() ?? (await mkdtemp(join(tmpdir(), 'admiral-conformance-')));
  const text = typeof setup.config === 'string' ? setup.config : await setup.config(dir);
  const file = join(dir, `broker-${process.pid}-${Math.random().toString(36).slice(2)}.conf`);
  await writeFile(file, text);
  t.after(() => rm(setup.configDir ? file : dir, { recursive: true, force: true }));
  return file;
}

/** Starts one broker of `kind` for test `t` (stopped when it ends); undefined when skipped. */
export async function startBroker(
  t: TestContext,
  kind: BrokerKind,
  setup: BrokerSetup = {},
): Promise<BrokerUnderTest | undefined> {
  if (kind === 'nats-server') {
    let config: string | undefined;
    let configDir: string | undefined;
    if (setup.config !== undefined) {
      const file = await writeConfig(t, setup);
      config = await readFile(file!, 'utf8');
      configDir = join(file!, '..');
    }
    const srv = await startNatsServer(t, { config, configDir });
    return (
      srv && {
        kind,
        url: srv.url,
        host: srv.host,
        port: srv.port,
        ...(srv.monitorPort !== undefined && {
          monitorUrl: `http://127.0.0.1:${srv.monitorPort}`,
        }),
        ...(srv.wsPort !== undefined && { wsPort: srv.wsPort }),
        lameDuck: () => {
          process.kill(srv.pid!, 'SIGUSR2');
        },
        ...(srv.configFile !== undefined && { configFile: srv.configFile }),
        reload: () => {
          process.kill(srv.pid!, 'SIGHUP');
          return Promise.resolve();
        },
      }
    );
  }
  const file = await writeConfig(t, setup);
  const options = file === undefined ? {} : await loadBrokerConfigFile(file);
  const broker = await Broker.start({ ...options, host: '127.0.0.1', port: 0 });
  t.after(() => broker.close());
  return {
    kind,
    url: broker.url,
    host: broker.host,
    port: broker.port,
    ...((broker.monitorUrl ?? broker.monitorsUrl) !== undefined && {
      monitorUrl: (broker.monitorUrl ?? broker.monitorsUrl)!.replace(/^https:/, 'http:'),
    }),
    ...(broker.wsPort !== undefined && { wsPort: broker.wsPort }),
    lameDuck: () => {
      void broker.lameDuck();
    },
    ...(file !== undefined && { configFile: file }),
    reload: async () => {
      if (file === undefined) throw new Error('no configuration file to reload');
      broker.reload(await loadBrokerConfigFile(file));
    },
  };
}

export type CaseFn = (t: TestContext, broker: BrokerUnderTest) => Promise<void>;

/** Registers `name` twice, once per broker, each started from the same configuration. */
export function forEachBroker(name: string, caseFn: CaseFn, setup: BrokerSetup = {}): void {
  for (const kind of BROKER_KINDS) {
    test(`${name} [${kind}]`, { timeout: setup.timeoutMs ?? 15_000 }, async (t) => {
      const broker = await startBroker(t, kind, setup);
      if (broker === undefined) return;
      await caseFn(t, broker);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Raw sockets

/** A plain TCP connection that records every byte the broker sends. */
export class RawClient {
  private readonly chunks: Buffer[] = [];
  private waiters: Array<() => void> = [];
  closed = false;
  readonly closedAt: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (b: Buffer) => {
      this.chunks.push(b);
      this.wake();
    });
    this.closedAt = new Promise((resolve) => {
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      });
    });
    socket.on('error', () => {
      // 'close' follows; a reset is an observable outcome, not a test failure.
    });
  }

  static open(t: TestContext | undefined, port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host }, () => {
        socket.off('error', reject);
        const c = new RawClient(socket);
        t?.after(() => c.destroy());
        resolve(c);
      });
      socket.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }

  get text(): string {
    return this.received.toString('latin1');
  }

  write(data: string | Buffer): void {
    if (!this.closed) this.socket.write(data);
  }

  /** Resolves once `pred` holds for everything received so far, or the socket closes. */
  async waitFor(pred: (text: string) => boolean, timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.text)) {
      if (this.closed) return pred(this.text);
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Throwaway TLS material made with the openssl CLI.

export interface TlsMaterial {
  dir: string;
  ca: string;
  clientCert: string;
  clientKey: string;
}

const run = promisify(execFile);

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate, in `dir`. */
export async function makeTlsMaterial(): Promise<TlsMaterial> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-tls-'));
  const o = (...args: string[]) => run('openssl', args, { cwd: dir });
  await o(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca-key.pem',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=admiral test CA',
  );
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    await writeFile(join(dir, `${name}.ext`), `${ext}\n`);
    await o(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}-key.pem`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=admiral ${name}`,
    );
    await o(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca-key.pem',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  }
  return {
    dir,
    ca: await readFile(join(dir, 'ca.pem'), 'utf8'),
    clientCert: await readFile(join(dir, 'client.pem'), 'utf8'),
    clientKey: await readFile(join(dir, 'client-key.pem'), 'utf8'),
  };
}
