import type { Logger } from '../observability/logger.js';
import type { Compression } from '../protocol/index.js';
import type { BrokerCredentials } from './broker-connection.js';
import type { NodeExtension } from './extension.js';
import type { JoinOptions } from './join.js';

/** Message defaults applied when a message leaves a field out (Steward's names, seconds). */
export interface MessageDefaults {
  readonly ACKTimeout: number;
  readonly retries: number;
  readonly replyACKTimeout: number;
  readonly replyRetries: number;
  readonly methodTimeout: number;
  readonly replyMethodTimeout: number;
  /** Time to live of a message that names none, in seconds. */
  readonly ttl: number;
}

/** Everything a node needs, resolved: the CLI maps the validated config onto this. */
export interface NodeOptions {
  readonly name: string;
  /** Absolute path; every file the node writes is under it. */
  readonly dataDir: string;
  readonly broker: BrokerCredentials;
  /** Name of the central node (error log, inventory). */
  readonly central: string;
  readonly isCentral: boolean;
  /**
   * Takes no message addressed to it until an extension calls `ctx.receive(true)`: a central on
   * shared state, which receives only while it leads (central/leadership.ts).
   */
  readonly deferReceiving?: boolean;
  readonly subjectPrefix: string;
  readonly compression: Compression;
  readonly helloIntervalMs: number;
  readonly defaults: MessageDefaults;
  /** Retry backoff after a failed attempt: base doubled per attempt up to max, with jitter. */
  readonly backoff: { readonly baseMs: number; readonly maxMs: number; readonly jitter?: number };
  /** Allowed clock difference between sender and receiver, ms (config `trust.maxClockSkew`). */
  readonly maxClockSkewMs?: number;
  /** Longest time to live of a message sent or accepted, ms from its createdAt (config `messages.maxTtl`); default 7 days. */
  readonly maxTtlMs?: number;
  readonly limits: {
    readonly maxOutputBytes: number;
    readonly readAllow: readonly string[];
    /** The node's own files outside its data dir's reserved names (MethodLimits.statePaths). */
    readonly statePaths?: readonly string[];
  };
  /** Methods run at once on this node. */
  readonly maxConcurrent: number;
  readonly inputs: {
    readonly socket: boolean;
    readonly tcpListen?: string;
    readonly httpListen?: string;
    readonly watchFolder?: string;
  };
  /** Bearer token of the HTTP listener (`central.http.token`); default `<dataDir>/api-token`. */
  readonly httpToken?: string;
  readonly metricsListen?: string;
  readonly statusFile?: { readonly path: string; readonly intervalMs: number };
  /** Pin the central's key the first time its online event is seen (local, loopback fleets). */
  readonly trustCentralOnFirstUse: boolean;
  /** Join a remote fleet (`--join`, `--ca-fingerprint`) before the first connection; default none. */
  readonly join?: JoinOptions;
  readonly log: Logger;
  /** SQLite durability and housekeeping (config `store`). */
  readonly store?: {
    readonly synchronous: 'normal' | 'full';
    readonly busyTimeoutMs: number;
    readonly auditFsync: boolean;
    /** How long inbox ids are kept after their message expired, to catch late duplicates. */
    readonly inboxKeepAfterExpiryMs: number;
  };
  /** Public keys trusted besides the trust store (config `trust.keys`). */
  readonly trustedKeys?: readonly string[];
  /** Broker connection timings (config `broker.connectTimeout`, `reconnectWait`, `reconnectJitterMs`). */
  readonly connect?: {
    readonly timeoutMs: number;
    readonly reconnectWaitMs: number;
    readonly reconnectJitterMs: number;
    readonly reconnectJitterTlsMs: number;
  };
  /** Duties added to this node (central role, fleet control, …), started in order. */
  readonly extensions?: readonly NodeExtension[];
}

export const DEFAULT_MESSAGE_DEFAULTS: MessageDefaults = {
  ACKTimeout: 5,
  retries: 3,
  replyACKTimeout: 5,
  replyRetries: 3,
  methodTimeout: 10,
  replyMethodTimeout: 10,
  ttl: 3600,
};
