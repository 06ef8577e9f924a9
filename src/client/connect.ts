import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { reconnectDelay } from '../node/backoff.js';
import {
  BrokerConnectError,
  type BrokerCredentials,
  type ConnectOptions,
  connectToBroker,
} from '../node/broker-connection.js';
import { nodeInboxPrefix } from '../protocol/enrolment.js';
import { generateIdentity, type Identity, identityFromSeed, Subjects } from '../protocol/index.js';

/** How a client command reaches the system (global flags; DESIGN.md, "Roles"). */
export interface ClientOptions {
  /** `--broker URL|host:port`: a remote broker. Without it, the local node's broker. */
  readonly broker?: string;
  /** `--data-dir`: the local node (default ADMIRAL_DATA_DIR, else ./admiral-data). */
  readonly dataDir?: string;
  /** ms to wait for the connection; default 5 s. */
  readonly timeoutMs?: number;
  /** Client name shown by the broker. */
  readonly name?: string;
  /**
   * `--central-wait`: ms to wait for a broker that refuses connections and, per request, for a
   * central that is not there (both restarting); default config `centralWait` (5 s).
   */
  readonly centralWaitMs?: number;
  /** Reconnect for ever when the broker goes away (long-running clients: the chat bridge); default false. */
  readonly persistent?: boolean;
}

/** A client's connection: the broker, the subjects, and who it speaks as. */
export interface AdmiralClient {
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  /** Name of the central node. */
  readonly central: string;
  /** The local node's identity when its data dir is readable, else a throwaway one. */
  readonly identity: Identity;
  /** True when `identity` is the local node's (so its trust and policy apply). */
  readonly localIdentity: boolean;
  /** The data dir used for defaults, when one exists. */
  readonly dataDir: string | undefined;
  readonly brokerUrl: string;
  /** ms each request to central waits for one to answer when none is there; default 0. */
  readonly centralWaitMs?: number;
  close(): Promise<void>;
}

/** `host:port` → `nats://host:port`; a URL stays as it is. */
export function normalizeBrokerUrl(value: string): string {
  return /^[a-z]+:\/\//i.test(value) ? value : `nats://${value}`;
}

/**
 * `<dataDir>/local-broker.json`: how local clients reach a broker `admiral up --listen` secured
 * (URL on loopback, the central's nkey seed file, the fleet CA). Absent in local mode.
 */
export const LOCAL_BROKER_FILE = 'local-broker.json';

function readLocalBroker(dataDir: string): BrokerCredentials | undefined {
  try {
    const v = JSON.parse(readFileSync(join(dataDir, LOCAL_BROKER_FILE), 'utf8')) as Record<
      string,
      unknown
    >;
    if (typeof v.url !== 'string') return undefined;
    return {
      url: v.url,
      ...(typeof v.nkeySeedFile === 'string' && { nkeySeedFile: v.nkeySeedFile }),
      ...(typeof v.rootCa === 'string' && { rootCa: v.rootCa }),
    };
  } catch {
    return undefined;
  }
}

function readStatusServer(dataDir: string): string | undefined {
  try {
    const status = JSON.parse(readFileSync(join(dataDir, 'status.json'), 'utf8')) as {
      connectedServer?: unknown;
    };
    return typeof status.connectedServer === 'string' ? status.connectedServer : undefined;
  } catch {
    return undefined;
  }
}

function credentialsOf(config: Config, url: string): BrokerCredentials {
  const b = config.broker;
  return {
    url,
    ...(b.nkeySeedFile !== undefined && { nkeySeedFile: b.nkeySeedFile }),
    ...(b.credsFile !== undefined && { credsFile: b.credsFile }),
    ...(b.token !== undefined && { token: b.token }),
    ...(b.user !== undefined && { user: b.user }),
    ...(b.password !== undefined && { password: b.password }),
    ...(b.rootCa !== undefined && { rootCa: b.rootCa }),
    ...(b.clientCert !== undefined && { clientCert: b.clientCert }),
    ...(b.clientKey !== undefined && { clientKey: b.clientKey }),
  };
}

/** Waits between connection attempts to a broker that refuses: 100 ms, growing to 1 s. */
const REFUSED_SCHEDULE = { firstMs: 100, maxMs: 1000, factor: 1.5, jitter: 0.2 } as const;

/**
 * Connects; a broker that refuses the connection (restarting: nothing listens on its port yet)
 * is tried again until `waitMs` have passed. Any other failure (credentials, unknown host, a
 * timeout) is reported at once.
 */
async function connectWaiting(
  creds: BrokerCredentials,
  opts: ConnectOptions,
  waitMs: number,
): Promise<NatsConnection> {
  const deadline = Date.now() + waitMs;
  for (let failures = 0; ; failures++) {
    try {
      return await connectToBroker(creds, opts);
    } catch (err) {
      const left = deadline - Date.now();
      if (!(err instanceof BrokerConnectError) || !err.refused || left <= 0) throw err;
      await new Promise((r) =>
        setTimeout(r, Math.min(left, reconnectDelay(failures, REFUSED_SCHEDULE))),
      );
    }
  }
}

/**
 * Connects a client command: with `--broker`, to that broker (credentials from ADMIRAL_BROKER_*
 * and the local config if any); otherwise to the broker the local node (`admiral up` or
 * `admiral node start` with this data dir) is connected to, with that node's credentials and
 * identity.
 */
export async function connectClient(options: ClientOptions = {}): Promise<AdmiralClient> {
  const dataDir = resolve(options.dataDir ?? process.env.ADMIRAL_DATA_DIR ?? 'admiral-data');
  const hasLocal = existsSync(join(dataDir, 'config.yaml'));
  const loaded = loadConfig({ flags: { dataDir } });
  const config = loaded.config;
  let url: string;
  if (options.broker !== undefined) url = normalizeBrokerUrl(options.broker);
  else {
    // The server the node is connected to (the embedded broker's real port, for one); a node on
    // a cluster has the cluster's list in its config, which survives the loss of that server.
    const fromStatus = readStatusServer(dataDir);
    url =
      fromStatus !== undefined && !config.broker.url.includes(',')
        ? normalizeBrokerUrl(fromStatus)
        : config.broker.url;
  }
  const seedFile = join(dataDir, 'identity.seed');
  let identity: Identity;
  let localIdentity = false;
  try {
    identity = identityFromSeed(readFileSync(seedFile, 'utf8'));
    localIdentity = true;
  } catch {
    identity = generateIdentity();
  }
  // Without --broker, a broker secured by `admiral up --listen` is reached as its central.
  const local = options.broker === undefined ? readLocalBroker(dataDir) : undefined;
  if (local !== undefined) url = local.url;
  const centralWaitMs = options.centralWaitMs ?? config.centralWait * 1000;
  const nc = await connectWaiting(
    local ?? credentialsOf(config, url),
    {
      name: options.name ?? 'admiral-cli',
      timeout: options.timeoutMs ?? 5000,
      ...(options.persistent === true && { persistent: true }),
      // Speaking as a node: its reply inboxes, the only ones a broker confining it lets it read.
      ...(localIdentity &&
        config.nodeName !== undefined && { inboxPrefix: nodeInboxPrefix(config.nodeName) }),
    },
    centralWaitMs,
  );
  return {
    nc,
    subjects: new Subjects(config.subjectPrefix),
    central: config.centralNode,
    identity,
    localIdentity,
    dataDir: hasLocal ? dataDir : undefined,
    brokerUrl: url,
    centralWaitMs,
    close: async () => {
      await nc.close();
    },
  };
}
