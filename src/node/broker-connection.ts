import { readFileSync } from 'node:fs';
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  jwtAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
} from '@nats-io/transport-node';
import { type ReconnectSchedule, reconnectDelay } from './backoff.js';

/** How a node or client reaches the broker; secrets never leave this object in logs. */
export interface BrokerCredentials {
  /** nats://host:port (or several, comma separated). */
  readonly url: string;
  /** File holding an nkey seed (`SU…`) for nkey authentication. */
  readonly nkeySeedFile?: string;
  /** A NATS `.creds` file (user JWT + nkey seed) for nats-server in operator mode; read at every (re)connect. */
  readonly credsFile?: string;
  /** A bearer user JWT (operator mode, no seed: the enrolment user's). */
  readonly bearerJwt?: string;
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
    options?: { cause?: unknown; refused?: boolean },
  ) {
    super(message, options);
    this.refused = options?.refused ?? false;
  }

  /** Nothing listened at the address (ECONNREFUSED): a broker that may be restarting. */
  readonly refused: boolean;
}

/** Maps low-level connect failures to what an operator understands, keeping the cause. */
function describeConnectFailure(err: unknown, url: string): BrokerConnectError {
  const text = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string } | undefined)?.code ?? '';
  const causeCode = ((err as { cause?: { code?: string } } | undefined)?.cause?.code ??
    '') as string;
  const all = `${code} ${causeCode} ${text}`;
  if (/ECONNREFUSED/.test(all))
    return new BrokerConnectError(`connection refused: ${url}`, url, { cause: err, refused: true });
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

/** The broker URL(s) credentials are taken from was refused: credentials that disagree. */
export class BrokerCredentialsError extends Error {
  override readonly name = 'BrokerCredentialsError';
  readonly code = 'ADMIRAL_BROKER_CREDENTIALS';
}

interface UrlCredentials {
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
}

// scheme://userinfo@rest: the userinfo is everything up to the last @ before the host.
const WITH_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^/]*)@(.*)$/i;

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/**
 * Each server of a comma-separated URL list without its userinfo, and the credentials it
 * carried: `user:pass@` (user and password) or `token@` (a token), as nats-server's clients take
 * them. nats.js is never given a URL with credentials: it would not use them, and it names its
 * servers in errors.
 */
export function splitUrlCredentials(url: string): {
  servers: string[];
  credentials: UrlCredentials | undefined;
} {
  const servers: string[] = [];
  let found: UrlCredentials | undefined;
  let first = '';
  for (const raw of url.split(',').map((s) => s.trim())) {
    const m = WITH_USERINFO.exec(raw);
    if (m === null) {
      servers.push(raw);
      continue;
    }
    const [, scheme, info, rest] = m as unknown as [string, string, string, string];
    servers.push(`${scheme}${rest}`);
    const colon = info.indexOf(':');
    const creds: UrlCredentials =
      colon === -1
        ? { token: decode(info) }
        : { user: decode(info.slice(0, colon)), password: decode(info.slice(colon + 1)) };
    if (found === undefined) {
      found = creds;
      first = `${scheme}${rest}`;
    } else if (
      found.user !== creds.user ||
      found.password !== creds.password ||
      found.token !== creds.token
    ) {
      throw new BrokerCredentialsError(
        `Expected every server in the broker URL to carry the same credentials (one connection has one login), got different credentials in ${first} and ${scheme}${rest}`,
      );
    }
  }
  return { servers, credentials: found };
}

/** The URL(s) with any credentials taken out, to name in messages. */
export function urlWithoutCredentials(url: string): string {
  return url
    .split(',')
    .map((s) => s.trim().replace(WITH_USERINFO, '$1$3'))
    .join(',');
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
  /** Persistent connections: longest wait between reconnect attempts, ms; default 2 s. */
  readonly reconnectWaitMs?: number;
  /** Persistent connections: random extra wait per attempt (at most the wait), ms; default 100 (TLS: 5000). */
  readonly reconnectJitterMs?: number;
  readonly reconnectJitterTlsMs?: number;
}

/** What nats.js tells of the server it is about to dial (its `Server`). */
interface DialTarget {
  readonly reconnects: number;
  readonly didConnect: boolean;
}

/**
 * nats.js's reconnect hooks for a backoff that starts short and grows (reconnectDelay): its
 * default waits `reconnectTimeWait` after every failed attempt, so a broker back after one second
 * is found only at the next 10 s tick. `reconnectToServer` runs once per dial (before it, with
 * the server's failed attempts in a row, reset by a connection) and fixes the wait that follows;
 * `reconnectDelayHandler` is asked on every turn of the dial loop and so must give the same wait
 * until the next dial.
 */
export function reconnectHooks(
  schedule: ReconnectSchedule,
  random = Math.random,
): Required<Pick<ConnectionOptions, 'reconnectDelayHandler' | 'reconnectToServer'>> {
  let next = reconnectDelay(0, schedule, random);
  // Before a first connection nats.js does not count failures (waitOnFirstConnect): count here.
  let firstDials = 0;
  const dialing = (pool: readonly DialTarget[]): null => {
    const target = pool[0];
    const failures =
      target === undefined || (!target.didConnect && target.reconnects === 0)
        ? firstDials++
        : target.reconnects;
    next = reconnectDelay(failures, schedule, random);
    return null; // dial the server nats.js picked
  };
  return { reconnectDelayHandler: () => next, reconnectToServer: dialing };
}

export function connectionOptions(
  creds: BrokerCredentials,
  opts: ConnectOptions,
): ConnectionOptions {
  const { servers, credentials: inUrl } = splitUrlCredentials(creds.url);
  const options: ConnectionOptions = {
    servers,
    name: opts.name,
    timeout: opts.timeout ?? 5000,
    ...(opts.inboxPrefix !== undefined && { inboxPrefix: opts.inboxPrefix }),
  };
  const tls = Boolean(creds.rootCa || creds.clientCert || /^tls:/i.test(creds.url));
  if (opts.persistent) {
    const extraMs = tls ? (opts.reconnectJitterTlsMs ?? 5000) : (opts.reconnectJitterMs ?? 100);
    Object.assign(options, {
      reconnect: true,
      maxReconnectAttempts: -1,
      waitOnFirstConnect: true,
      ...reconnectHooks({ maxMs: opts.reconnectWaitMs ?? 2000, extraMs }),
      pingInterval: 20_000,
    });
  } else if (servers.length > 1) {
    // A command talking to a cluster rides out the loss of its server: it goes on with another
    // (a `run` waiting for its job while a server dies), and gives up after a few tries.
    Object.assign(options, { reconnect: true, maxReconnectAttempts: 10, reconnectTimeWait: 250 });
  } else {
    options.reconnect = false;
  }
  if (creds.nkeySeedFile) {
    const seed = readFileSync(creds.nkeySeedFile, 'utf8').trim();
    options.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  if (creds.credsFile) {
    const file = creds.credsFile;
    options.authenticator = credsAuthenticator(() => new Uint8Array(readFileSync(file)));
  }
  if (creds.bearerJwt) options.authenticator = jwtAuthenticator(creds.bearerJwt);
  if (creds.token) options.token = creds.token;
  if (creds.user) options.user = creds.user;
  if (creds.password) options.pass = creds.password;
  if (inUrl !== undefined) {
    // Credentials in the URL are used unless configured ones say otherwise; a contradiction is
    // refused rather than one of them silently dropped.
    for (const [key, option, value] of [
      ['broker.user', 'user', inUrl.user],
      ['broker.password', 'pass', inUrl.password],
      ['broker.token', 'token', inUrl.token],
    ] as const) {
      if (value === undefined) continue;
      const configured = options[option];
      if (configured !== undefined && configured !== value) {
        throw new BrokerCredentialsError(
          `Expected the credentials in the broker URL ${urlWithoutCredentials(creds.url)} to agree with ${key}, but they differ: give the credentials in one place`,
        );
      }
      options[option] = value;
    }
  }
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
    if (err instanceof BrokerCredentialsError) throw err;
    throw describeConnectFailure(err, urlWithoutCredentials(creds.url));
  }
}
