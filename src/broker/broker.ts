// The embedded broker: validates options, owns the sublist, the connections and the counters,
// and hands sockets from server.ts (or any Duplex, for tests) to client.ts.

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
  if (!isLoopbackHost(o.host) && !o.insecure && !(o.tls && hasAuth(o))) {
    throw new InsecureListenError(o.host);
  }
  if (o.tls?.verify && !o.tls.ca) {
    throw new BrokerConfigError('Expected `tls.ca` when `tls.verify` is true, got none', 'tls.ca');
  }
  return Object.freeze(o);
}

class BrokerCore implements ConnectionHost, StreamAcceptor {
  readonly sublist = new Sublist<Subscription<Connection>>();
  readonly auth: Authenticator;
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
  readonly serverId: string;
  port: number;
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
    readonly options: BrokerOptions,
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

  removeConnection(conn: Connection): void {
    if (this.connections.delete(conn)) this.stats.connections--;
  }

  prepare(meta: ConnectionMeta): Greeting {
    const cid = this.nextCid++;
    const nonce = this.auth.newNonce();
    const o = this.options;
    // Field order as nats-server 2.9.10's Info struct; it also puts a space before CRLF.
    const info: Record<string, unknown> = {
      server_id: this.serverId,
      server_name: o.serverName ?? this.serverId,
      version: NATS_COMPAT_VERSION,
      proto: 1,
      go: `admiral-${VERSION} node${process.versions.node}`,
      host: o.host,
      port: this.port,
      headers: true,
    };
    if (this.auth.required) info.auth_required = true;
    if (o.tls) info.tls_required = true;
    if (o.tls?.verify) info.tls_verify = true;
    info.max_payload = o.maxPayload;
    info.client_id = cid;
    info.client_ip = meta.remoteAddress ?? '';
    if (nonce !== undefined) info.nonce = nonce;
    return { cid, nonce, info: `INFO ${JSON.stringify(info)} \r\n` };
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
  private closePromise: Promise<void> | null = null;

  private constructor(
    private readonly core: BrokerCore,
    private readonly listener: Listener,
  ) {
    this.host = core.options.host;
    this.port = listener.port;
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    this.url = `nats://${h}:${this.port}`;
    this.serverId = core.serverId;
  }

  /** Validates options, listens, and resolves once the port is bound. */
  static async start(options?: BrokerOptionsInput, logger?: BrokerLogger): Promise<Broker> {
    const resolved = resolveOptions(options);
    const core = new BrokerCore(resolved, logger ?? noopLogger);
    const listener = await listen(resolved, core);
    core.port = listener.port;
    core.log('info', 'broker listening', { host: resolved.host, port: listener.port });
    return new Broker(core, listener);
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
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    const core = this.core;
    core.closing = true;
    const stopped = this.listener.close();
    const conns = [...core.connections];
    for (const c of conns) c.close('server shutdown');
    await Promise.all(conns.map((c) => c.done));
    await stopped;
    core.log('info', 'broker stopped', { port: this.port });
  }
}
