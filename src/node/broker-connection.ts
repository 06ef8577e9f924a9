import { readFileSync } from 'node:fs';
import {
  type ConnectionOptions,
  connect,
  type NatsConnection,
  nkeyAuthenticator,
} from '@nats-io/transport-node';

/** How a node or client reaches the broker; secrets never leave this object in logs. */
export interface BrokerCredentials {
  /** nats://host:port (or several, comma separated). */
  readonly url: string;
  /** File holding an nkey seed (`SU…`) for nkey authentication. */
  readonly nkeySeedFile?: string;
  readonly token?: string;
  readonly user?: string;
  readonly password?: string;
  /** PEM CA that signed the broker's certificate; turns TLS on. */
  readonly rootCa?: string;
  /** PEM client certificate and key, for brokers that verify clients. */
  readonly clientCert?: string;
  readonly clientKey?: string;
}

export class BrokerConnectError extends Error {
  override readonly name = 'BrokerConnectError';
  readonly code = 'ADMIRAL_BROKER_CONNECT';
  constructor(
    message: string,
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Maps low-level connect failures to what an operator understands, keeping the cause. */
function describeConnectFailure(err: unknown, url: string): BrokerConnectError {
  const text = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string } | undefined)?.code ?? '';
  const causeCode = ((err as { cause?: { code?: string } } | undefined)?.cause?.code ??
    '') as string;
  const all = `${code} ${causeCode} ${text}`;
  if (/ECONNREFUSED/.test(all))
    return new BrokerConnectError(`connection refused: ${url}`, url, { cause: err });
  if (/ENOTFOUND|EAI_AGAIN/.test(all))
    return new BrokerConnectError(`unknown host: ${url}`, url, { cause: err });
  if (/timeout|TIMEOUT/.test(all))
    return new BrokerConnectError(`connection timed out: ${url}`, url, { cause: err });
  if (/[Aa]uthorization/.test(all)) {
    return new BrokerConnectError(
      `broker refused the credentials (authorization violation): ${url}`,
      url,
      { cause: err },
    );
  }
  return new BrokerConnectError(`cannot connect to ${url}: ${text}`, url, { cause: err });
}

export interface ConnectOptions {
  /** Client name shown by the broker. */
  readonly name: string;
  /** Keep trying forever, with jitter, also for the first connection (daemons); default false. */
  readonly persistent?: boolean;
  /** ms to wait for one connection attempt; default 5 s. */
  readonly timeout?: number;
  /** Prefix of this connection's reply inboxes; default `_INBOX` (a node's: `_INBOX_<node>`). */
  readonly inboxPrefix?: string;
  /** Persistent connections: ms between reconnect attempts; default 1 s. */
  readonly reconnectWaitMs?: number;
  /** Persistent connections: random extra wait per attempt, ms; default 500 (TLS: the same). */
  readonly reconnectJitterMs?: number;
  readonly reconnectJitterTlsMs?: number;
}

export function connectionOptions(
  creds: BrokerCredentials,
  opts: ConnectOptions,
): ConnectionOptions {
  const options: ConnectionOptions = {
    servers: creds.url.split(',').map((s) => s.trim()),
    name: opts.name,
    timeout: opts.timeout ?? 5000,
    ...(opts.inboxPrefix !== undefined && { inboxPrefix: opts.inboxPrefix }),
  };
  if (opts.persistent) {
    Object.assign(options, {
      reconnect: true,
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
      reconnectTimeWait: opts.reconnectWaitMs ?? 1000,
      reconnectJitter: opts.reconnectJitterMs ?? 500,
      reconnectJitterTLS: opts.reconnectJitterTlsMs ?? opts.reconnectJitterMs ?? 500,
      pingInterval: 20_000,
    });
  } else {
    options.reconnect = false;
  }
  if (creds.nkeySeedFile) {
    const seed = readFileSync(creds.nkeySeedFile, 'utf8').trim();
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (creds.token) options.token = creds.token;
  if (creds.user) options.user = creds.user;
  if (creds.password) options.pass = creds.password;
  if (creds.rootCa || creds.clientCert) {
    options.tls = {
      ...(creds.rootCa && { caFile: creds.rootCa }),
      ...(creds.clientCert && { certFile: creds.clientCert }),
      ...(creds.clientKey && { keyFile: creds.clientKey }),
    };
  }
  return options;
}

/** Connects to the broker; errors name the URL and say what went wrong in plain words. */
export async function connectToBroker(
  creds: BrokerCredentials,
  opts: ConnectOptions,
): Promise<NatsConnection> {
  try {
    return await connect(connectionOptions(creds, opts));
  } catch (err) {
    throw describeConnectFailure(err, creds.url);
  }
}
