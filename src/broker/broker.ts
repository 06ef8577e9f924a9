// The embedded broker: validates options, owns the sublist, the connections and the counters,
// and hands sockets from server.ts (or any Duplex, for tests) to client.ts.

import { rename, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { basename, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { createServer as createServerKey } from '@nats-io/nkeys';
import { VERSION } from '../version.js';
import { Authenticator } from './auth.js';
import {
  type BrokerLogger,
  Connection,
  type ConnectionHost,
  type ConnectionMeta,
} from './client.js';
import { BrokerConfigError, InsecureListenError, ServerErrorText } from './errors.js';
import { isLoopbackHost } from './loopback.js';
import { listenMonitor, Monitor, type MonitorListener, type MonitorSource } from './monitor.js';

export { isLoopbackHost } from './loopback.js';
import {
  type BrokerOptions,
  type BrokerOptionsInput,
  BrokerOptionsSchema,
  type BrokerStats,
  type Permissions,
  type PermissionsInput,
  PermissionsSchema,
} from './options.js';
import { type Greeting, type Listener, listen, type StreamAcceptor } from './server.js';
import { listenWebSocket, type WebSocketListener } from './websocket.js';
import { Sublist } from './sublist.js';
import type { Subscription } from './subscription.js';

/**
 * The nats-server version reported in INFO. nats.js gates features on it, so it names the
 * nats-server release whose client-facing behaviour this broker reproduces.
 */
export const NATS_COMPAT_VERSION = '2.9.10';

const noopLogger: BrokerLogger = () => {};

function hasAuth(o: BrokerOptions): boolean {
  const a = o.authorization;
  if (o.operators.length > 0 || o.trustedKeys.length > 0) return true;
  return !!a && (a.token !== undefined || a.user !== undefined || (a.users?.length ?? 0) > 0);
}

/** Validates options once; throws BrokerConfigError or InsecureListenError. */
export function resolveOptions(input: BrokerOptionsInput | undefined): BrokerOptions {
  const parsed = BrokerOptionsSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue.path.join('.');
    throw new BrokerConfigError(
      `Invalid broker option${path ? ` \`${path}\`` : ''}: ${issue.message}`,
      path || undefined,
      { cause: parsed.error },
    );
  }
  const o = parsed.data;
  if (!isLoopbackHost(o.host) && !o.insecure && !(o.tls && !o.allowNonTls && hasAuth(o))) {
    throw new InsecureListenError(o.host);
  }
  if (o.httpsPort !== undefined && !o.tls) {
    throw new BrokerConfigError(
      'Expected `tls` when `httpsPort` is set (HTTPS monitoring uses its certificate), got none',
      'httpsPort',
    );
  }
  const monitorHost = o.httpHost ?? o.host;
  const monitoring = o.httpPort !== undefined || o.httpsPort !== undefined;
  if (monitoring && !isLoopbackHost(monitorHost) && !o.insecure) {
    // The monitoring endpoint has no authentication (as nats-server's): it names every client.
    throw new BrokerConfigError(
      `Expected the monitoring endpoint to listen on loopback, got \`${monitorHost}\`; it has no authentication, so a non-loopback monitor needs \`insecure: true\``,
      'httpHost',
    );
  }
  if (o.websocket && !o.websocket.noTls) {
    // websocket.go validateWebsocketOptions: nats-server's text. admiral has no wss:// listener.
    throw new BrokerConfigError(
      'websocket requires TLS configuration; the embedded broker serves ws:// only, so set `no_tls: true` (or use nats-server for wss://)',
      'websocket.noTls',
    );
  }
  const wsHost = o.websocket?.host ?? o.host;
  if (o.websocket && !isLoopbackHost(wsHost) && !o.insecure) {
    throw new InsecureListenError(wsHost);
  }
  if (o.tls?.verify && !o.tls.ca) {
    throw new BrokerConfigError('Expected `tls.ca` when `tls.verify` is true, got none', 'tls.ca');
  }
  return Object.freeze(o);
}

class BrokerCore implements ConnectionHost, StreamAcceptor, MonitorSource {
  readonly sublist = new Sublist<Subscription<Connection>>();
  auth: Authenticator;
  readonly stats: BrokerStats = {
    connections: 0,
    totalConnections: 0,
    subscriptions: 0,
    inMsgs: 0,
    outMsgs: 0,
    inBytes: 0,
    outBytes: 0,
    slowConsumers: 0,
  };
  readonly connections = new Set<Connection>();
  private readonly accountSublists = new Map<string, Sublist<Subscription<Connection>>>();
  readonly serverId: string;
  port: number;
  wsPort: number | undefined = undefined;
  readonly startedAt = Date.now();
  readonly version = NATS_COMPAT_VERSION;
  readonly goVersion = `admiral-${VERSION} node${process.versions.node}`;
  closing = false;
  private nextCid = 1;
  private dirty: Connection[] = [];
  private flushQueued = false;
  private readonly flushAll = (): void => {
    this.flushQueued = false;
    const list = this.dirty;
    this.dirty = [];
    for (let i = 0; i < list.length; i++) {
      const c = list[i];
      try {
        c.flush();
      } catch (err) {
        this.log('error', 'flush failed', { cid: c.cid, error: String(err) });
        c.close('flush failed', true);
      }
    }
  };

  constructor(
    public options: BrokerOptions,
    readonly log: BrokerLogger,
  ) {
    this.auth = new Authenticator(options);
    this.serverId = createServerKey().getPublicKey();
    this.port = options.port;
  }

  markDirty(conn: Connection): void {
    this.dirty.push(conn);
    if (!this.flushQueued) {
      this.flushQueued = true;
      // Runs when the current input batch (one 'data' event) is done: one write per client.
      queueMicrotask(this.flushAll);
    }
  }

  sublistFor(account: string): Sublist<Subscription<Connection>> {
    if (account === '') return this.sublist;
    let s = this.accountSublists.get(account);
    if (!s) {
      s = new Sublist<Subscription<Connection>>();
      this.accountSublists.set(account, s);
    }
    return s;
  }

  private readonly accountConns = new Map<string, number>();

  joinAccount(conn: Connection, max: number): boolean {
    const n = this.accountConns.get(conn.account) ?? 0;
    if (max >= 0 && n >= max) return false;
    this.accountConns.set(conn.account, n + 1);
    return true;
  }

  leaveAccount(conn: Connection): void {
    const n = (this.accountConns.get(conn.account) ?? 1) - 1;
    if (n <= 0) this.accountConns.delete(conn.account);
    else this.accountConns.set(conn.account, n);
  }

  get authRequired(): boolean {
    return this.auth.required;
  }

  connectUrls(): string[] {
    return [];
  }

  removeConnection(conn: Connection): void {
    if (this.connections.delete(conn)) this.stats.connections--;
  }

  prepare(meta: ConnectionMeta): Greeting {
    const cid = this.nextCid++;
    const nonce = this.auth.newNonce();
    return { cid, nonce, info: this.infoLine(cid, meta.remoteAddress ?? '', nonce, false) };
  }

  /** One INFO line, as server.go copyInfo + client.go generateClientInfoJSON build it. */
  infoLine(cid: number, clientIp: string, nonce: string | undefined, ldm: boolean): string {
    const o = this.options;
    // Field order as nats-server 2.9.10's Info struct; it also puts a space before CRLF.
    const info: Record<string, unknown> = {
      server_id: this.serverId,
      server_name: o.serverName ?? this.serverId,
      version: NATS_COMPAT_VERSION,
      proto: 1,
      go: this.goVersion,
      host: o.host,
      port: this.port,
      headers: true,
    };
    if (this.auth.required) info.auth_required = true;
    // server.go NewServer: with allow_non_tls, TLS is offered (tls_available), not required.
    if (o.tls && !o.allowNonTls) info.tls_required = true;
    if (o.tls?.verify) info.tls_verify = true;
    if (o.tls && o.allowNonTls) info.tls_available = true;
    info.max_payload = o.maxPayload;
    info.client_id = cid;
    if (clientIp !== '') info.client_ip = clientIp;
    if (nonce !== undefined) info.nonce = nonce;
    if (ldm) info.ldm = true;
    return `INFO ${JSON.stringify(info)} \r\n`;
  }

  refusal(greeting: Greeting): string | null {
    if (this.connections.size >= this.options.maxConnections) {
      // server.go createClient: INFO first, then the error, then close.
      return `${greeting.info}-ERR '${ServerErrorText.MaxConnections}'\r\n`;
    }
    return null;
  }

  attach(stream: Duplex, meta: ConnectionMeta, greeting: Greeting, infoSent: boolean): void {
    if (this.closing) {
      stream.on('error', () => {});
      stream.destroy();
      return;
    }
    if (!infoSent) {
      const refusal = this.refusal(greeting);
      if (refusal !== null) {
        this.log('warn', 'connection refused: maximum connections exceeded', { cid: greeting.cid });
        stream.on('error', () => {});
        stream.end(refusal);
        return;
      }
    }
    const conn = new Connection(this, stream, greeting.cid, meta, {
      info: infoSent ? null : greeting.info,
      nonce: greeting.nonce,
    });
    if (conn.closed) return;
    this.connections.add(conn);
    this.stats.connections++;
    this.stats.totalConnections++;
    this.log('debug', 'client connected', { cid: conn.cid, ip: meta.remoteAddress });
  }

  handle(stream: Duplex, meta: ConnectionMeta): void {
    this.attach(stream, meta, this.prepare(meta), false);
  }
}

/** The embedded NATS-protocol broker. */
export class Broker {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly serverId: string;
  /** Monitoring endpoint URLs (`http://host:port`), when `httpPort` / `httpsPort` are set. */
  readonly monitorUrl: string | undefined;
  readonly monitorsUrl: string | undefined;
  /** The WebSocket listener (`ws://host:port`), when `websocket` is set. */
  readonly wsUrl: string | undefined;
  readonly wsPort: number | undefined;
  private closePromise: Promise<void> | null = null;
  private lameDuckPromise: Promise<void> | null = null;
  private portsFile: string | undefined;
  /** Wakes the lame duck wait when close() is called. */
  private abortLameDuck: (() => void) | null = null;

  private constructor(
    private readonly core: BrokerCore,
    private readonly listener: Listener,
    private readonly monitors: MonitorListener[],
    private readonly ws: WebSocketListener | undefined,
  ) {
    this.host = core.options.host;
    this.port = listener.port;
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    this.url = `nats://${h}:${this.port}`;
    this.serverId = core.serverId;
    const url = (m: MonitorListener): string => {
      const mh = m.host.includes(':') ? `[${m.host}]` : m.host;
      return `${m.secure ? 'https' : 'http'}://${mh}:${m.port}`;
    };
    const plain = monitors.find((m) => !m.secure);
    const secure = monitors.find((m) => m.secure);
    this.monitorUrl = plain && url(plain);
    this.monitorsUrl = secure && url(secure);
    this.wsPort = ws?.port;
    if (ws) {
      const wh = ws.host.includes(':') ? `[${ws.host}]` : ws.host;
      this.wsUrl = `ws://${wh}:${ws.port}`;
    }
  }

  /** Validates options, listens, and resolves once the port is bound. */
  static async start(options?: BrokerOptionsInput, logger?: BrokerLogger): Promise<Broker> {
    const resolved = resolveOptions(options);
    const core = new BrokerCore(resolved, logger ?? noopLogger);
    const monitors = await startMonitors(core);
    let listener: Listener;
    let ws: WebSocketListener | undefined;
    try {
      if (resolved.websocket) {
        ws = await listenWebSocket(resolved, core);
        core.wsPort = ws.port;
        core.log('info', 'websocket listening', { host: ws.host, port: ws.port });
      }
      listener = await listen(resolved, core);
    } catch (err) {
      await Promise.all([...monitors.map((m) => m.close()), ws?.close()]);
      throw err;
    }
    core.port = listener.port;
    core.log('info', 'broker listening', { host: resolved.host, port: listener.port });
    const broker = new Broker(core, listener, monitors, ws);
    if (resolved.portsFileDir !== undefined) {
      try {
        await broker.writePortsFile(resolved.portsFileDir);
      } catch (err) {
        await broker.close();
        throw err;
      }
    }
    return broker;
  }

  /** The URLs the broker can be reached at, as nats-server's ports file lists them. */
  ports(): { nats: string[]; monitoring?: string[]; websocket?: string[] } {
    const scheme = this.core.options.tls ? 'tls' : 'nats';
    const out: { nats: string[]; monitoring?: string[]; websocket?: string[] } = {
      nats: hostPorts(this.host, this.port).map((hp) => `${scheme}://${hp}`),
    };
    const mon = this.monitors[0];
    if (mon) {
      // server.go PortsInfo: the monitoring scheme is https whenever https_port is set.
      const ms = this.monitors.some((m) => m.secure) ? 'https' : 'http';
      out.monitoring = hostPorts(mon.host, mon.port).map((hp) => `${ms}://${hp}`);
    }
    if (this.ws) out.websocket = hostPorts(this.ws.host, this.ws.port).map((hp) => `ws://${hp}`);
    return out;
  }

  /** server.go logPorts: `<dir>/<exe>_<pid>.ports`, removed again when the broker stops. */
  private async writePortsFile(dir: string): Promise<void> {
    // Go's os.Args[0]: the command as invoked (`exec -a nats-server node main.js …` names it
    // nats-server, as a harness that looks for nats-server_<pid>.ports expects), else the script.
    const argv0 = basename(process.argv0);
    const exe = /^node(js)?(\.exe)?$/.test(argv0) ? basename(process.argv[1] ?? 'admiral') : argv0;
    const file = join(dir, `${exe}_${process.pid}.ports`);
    try {
      // Whole or not at all: a harness polling the folder never reads half a file (nats-server
      // writes it in place).
      await writeFile(`${file}.tmp`, JSON.stringify(this.ports()));
      await rename(`${file}.tmp`, file);
    } catch (err) {
      throw new BrokerConfigError(
        `cannot write the ports file ${file}: ${err instanceof Error ? err.message : String(err)}`,
        'portsFileDir',
        { cause: err },
      );
    }
    this.portsFile = file;
  }

  /**
   * Applies a new configuration (SIGHUP, nats-server's `--signal reload`): only authorization
   * (users, permissions, tokens, operator mode's JWTs) may change, as that is what a running
   * server can apply; any other difference is refused with the keys named. Every client is then
   * checked again: see Connection#reauthorize. Throws BrokerConfigError.
   */
  reload(input: BrokerOptionsInput): void {
    const core = this.core;
    const next = resolveOptions({ ...input, host: core.options.host, port: core.options.port });
    const reloadable = new Set([
      'authorization',
      'operators',
      'trustedKeys',
      'resolverPreload',
      'host',
      'port',
    ]);
    const changed = (Object.keys(next) as (keyof BrokerOptions)[]).filter(
      (k) => !reloadable.has(k) && JSON.stringify(next[k]) !== JSON.stringify(core.options[k]),
    );
    if (changed.length > 0) {
      throw new BrokerConfigError(
        `config reload not supported for ${changed.map((k) => `\`${k}\``).join(', ')}: restart the broker to change ${changed.length === 1 ? 'it' : 'them'}`,
        changed[0],
      );
    }
    const auth = new Authenticator(next);
    if (auth.usesNonce !== core.auth.usesNonce) {
      // Connections made without a nonce cannot prove an nkey now, and the other way round.
      throw new BrokerConfigError(
        'config reload cannot turn nkey or JWT users on or off: restart the broker',
        'authorization',
      );
    }
    core.auth = auth;
    core.options = next;
    for (const c of [...core.connections]) c.reauthorize();
    core.log('info', 'configuration reloaded', { connections: core.connections.size });
  }

  /** Whether lame duck mode has begun. */
  get inLameDuckMode(): boolean {
    return this.lameDuckPromise !== null;
  }

  /**
   * Lame duck mode, as nats-server's (server.go lameDuckMode): stop accepting, tell every client
   * with an INFO carrying `ldm: true`, wait the grace period, then close the clients one by one
   * spread over the rest of the lame duck duration, and stop. Resolves when the broker has stopped.
   */
  lameDuck(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    this.lameDuckPromise ??= this.runLameDuck();
    return this.lameDuckPromise;
  }

  private async runLameDuck(): Promise<void> {
    const core = this.core;
    const o = core.options;
    core.log('info', 'entering lame duck mode, no new clients accepted');
    // Stops accepting at once; the promise settles only when the last socket is gone.
    void this.listener.close();
    void this.ws?.close();
    const clients = [...core.connections].sort((a, b) => a.cid - b.cid);
    if (clients.length === 0 || this.closePromise) {
      await this.close();
      return;
    }
    let dur = o.lameDuckDuration - o.lameDuckGracePeriod;
    if (dur <= 0) dur = 1000;
    // At most 1 s between two closes; many clients are closed in batches.
    let si = dur / clients.length;
    let batch = 1;
    if (si < 1) {
      si = 1;
      batch = Math.floor(clients.length / dur);
    } else if (si > 1000) {
      si = 1000;
    }
    for (const c of clients) {
      if (c.takesInfoUpdates) c.sendInfo(core.infoLine(c.cid, c.remoteAddress, undefined, true));
    }
    const aborted = new Promise<void>((resolve) => {
      this.abortLameDuck = resolve;
    });
    const sleep = (ms: number): Promise<boolean> =>
      Promise.race([
        new Promise<boolean>((resolve) => setTimeout(() => resolve(true), ms).unref()),
        aborted.then(() => false),
      ]);
    if (!(await sleep(o.lameDuckGracePeriod))) return;
    core.log('info', 'lame duck mode: closing existing clients', { clients: clients.length });
    for (let i = 0; i < clients.length; i++) {
      clients[i].close('server shutdown');
      if (i === clients.length - 1) break;
      if (batch === 1 || i % batch === 0) {
        // A random pause of at least half the interval, as nats-server's.
        const pause = Math.max(Math.random() * si, si / 2);
        if (!(await sleep(pause))) return;
      }
    }
    await this.close();
  }

  /** A snapshot of the counters. */
  stats(): BrokerStats {
    return { ...this.core.stats };
  }

  /** Serves one client over any duplex stream (tests use an in-memory pair). */
  handle(
    stream: Duplex,
    info: { remoteAddress?: string; remotePort?: number; tls?: boolean } = {},
  ): void {
    this.core.handle(stream, info);
  }

  /**
   * Adds (or replaces) an nkey user at runtime, as an `authorization.users` entry would; the
   * permissions are validated like the config's. Its connections already open keep the
   * permissions they authenticated with.
   */
  addNkeyUser(nkey: string, permissions?: PermissionsInput): void {
    let perms: Permissions | undefined;
    if (permissions !== undefined) {
      const parsed = PermissionsSchema.safeParse(permissions);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new BrokerConfigError(
          `Invalid permissions for ${nkey}: ${issue.path.join('.')} ${issue.message}`,
          'permissions',
          { cause: parsed.error },
        );
      }
      perms = parsed.data;
    }
    this.core.auth.addNkeyUser(nkey, perms);
  }

  /**
   * Removes a user (nkey or name) and closes every connection that authenticated as it, with
   * nats-server's `-ERR 'Authorization Violation'`; resolves with how many were closed once they are.
   */
  async removeUser(id: string): Promise<number> {
    this.core.auth.removeUser(id);
    const conns = [...this.core.connections].filter((c) => c.user === id);
    for (const c of conns) c.closeWithError(ServerErrorText.AuthViolation);
    await Promise.all(conns.map((c) => c.done));
    if (conns.length > 0) this.core.log('info', 'user removed', { user: id, closed: conns.length });
    return conns.length;
  }

  /** Stops accepting, flushes pending output, closes every client, resolves when all are gone. */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    this.abortLameDuck?.();
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    const core = this.core;
    core.closing = true;
    const stopped = Promise.all([
      this.listener.close(),
      this.ws?.close(),
      ...this.monitors.map((m) => m.close()),
    ]);
    const conns = [...core.connections];
    for (const c of conns) c.close('server shutdown');
    await Promise.all(conns.map((c) => c.done));
    await stopped;
    if (this.portsFile !== undefined) await rm(this.portsFile, { force: true });
    core.log('info', 'broker stopped', { port: this.port });
  }
}

/** Opens the monitoring listeners the options ask for (server.go startMonitoring). */
async function startMonitors(core: BrokerCore): Promise<MonitorListener[]> {
  const o = core.options;
  if (o.httpPort === undefined && o.httpsPort === undefined) return [];
  const monitor = new Monitor(core);
  const host = o.httpHost ?? o.host;
  monitor.httpHost = host;
  const onError = (err: Error): void =>
    core.log('error', 'monitoring endpoint error', { error: err.message });
  const out: MonitorListener[] = [];
  try {
    if (o.httpPort !== undefined) {
      const m = await listenMonitor(monitor, host, o.httpPort, null, onError);
      out.push(m);
      core.log('info', 'http monitor listening', { host, port: m.port });
    }
    if (o.httpsPort !== undefined) {
      // resolveOptions made sure `tls` is set; HTTPS asks for no client certificate (server.go).
      const m = await listenMonitor(monitor, host, o.httpsPort, o.tls!, onError);
      out.push(m);
      core.log('info', 'https monitor listening', { host, port: m.port });
    }
  } catch (err) {
    await Promise.all(out.map((m) => m.close()));
    throw err;
  }
  return out;
}

/** server.go resolveHostPorts: an unspecified address stands for every local address. */
function hostPorts(host: string, port: number): string[] {
  const wrap = (h: string): string => (h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`);
  if (host !== '0.0.0.0' && host !== '::' && host !== '') return [wrap(host)];
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (host === '0.0.0.0' && a.family !== 'IPv4') continue;
      out.push(wrap(a.address));
    }
  }
  return out;
}
