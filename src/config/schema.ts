import * as z from 'zod';
import { DEFAULT_MAX_CLOCK_SKEW_MS } from '../protocol/freshness.js';

// admiral's configuration: one schema, every object strict (an unknown key is an error naming the
// key and the file, variable or flag it came from). Defaults follow Steward's where Steward states
// one (its configuration_flags.go and README); durations are seconds unless the key says `Ms`.
// To add a section (e.g. `central.jobs`), add a strict object with `.prefault({})` below and a row
// per key in docs/configuration.md (a test checks that every key is documented).

/** `host:port`; an IPv6 host in brackets. Port 0 means any free port. */
export const hostPort = z
  .string()
  .refine(
    (s) =>
      /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]*):\d{1,5}$/.test(s) &&
      Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535,
    { message: 'host:port with a port from 0 to 65535, e.g. 127.0.0.1:8080' },
  );

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export const COMPRESSIONS = ['none', 'gzip', 'zstd'] as const;

// The schema is built when asked for and not kept (a WeakRef): a node validates its configuration
// once, at start, and the schema's few hundred zod objects (≈ 1 MiB of heap) are garbage after
// that (docs/benchmarks.md, "bench/idle").
function buildConfigSchema() {
  const nodeName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, {
    message: 'a node name: 1 to 64 of A-Z a-z 0-9 _ -',
  });
  const seconds = () => z.number().nonnegative();
  const positiveSeconds = () => z.number().positive();
  const count = () => z.number().int().nonnegative();
  const path = () => z.string().min(1);

  const BrokerConfigSchema = z
    .object({
      /** Broker address, `nats://host:port` (several comma separated); default nats://127.0.0.1:4222. */
      url: z.string().min(1).default('nats://127.0.0.1:4222'),
      /** File holding this node's nkey seed (`SU…`) for nkey authentication; default none. */
      nkeySeedFile: path().optional(),
      /** NATS `.creds` file (user JWT and nkey seed) for nats-server in operator mode, e.g. central's `nats/central.creds` from `admiral nats init`; default none. */
      credsFile: path().optional(),
      /** Token authentication; default none. Redacted when printed. */
      token: z.string().min(1).optional(),
      /** User for user/password authentication; default none. */
      user: z.string().min(1).optional(),
      /** Password for user/password authentication; default none. Redacted when printed. */
      password: z.string().optional(),
      /** PEM file of the CA that signed the broker's certificate; turns TLS on; default none. */
      rootCa: path().optional(),
      /** PEM client certificate file, for brokers that verify clients; default none. */
      clientCert: path().optional(),
      /** PEM private key file of `clientCert`; default none. */
      clientKey: path().optional(),
      /** Seconds to wait for the broker connection (Steward's natsConnOptTimeout); default 20 s. */
      connectTimeout: positiveSeconds().default(20),
      /** Longest wait between reconnect attempts, which start 0.25 s apart and grow 1.5× (Steward's natsConnectRetryInterval, 10 s there); default 2 s. */
      reconnectWait: positiveSeconds().default(2),
      /** Random extra wait per reconnect, at most the wait itself, in ms (Steward's natsReconnectJitter); default 100 ms. */
      reconnectJitterMs: count().default(100),
      /** Same, over TLS, in ms (Steward's natsReconnectJitterTLS, 5 s); default 5000 ms. */
      reconnectJitterTlsMs: count().default(5000),
    })
    .strict();

  const MessageDefaultsSchema = z
    .object({
      /** Seconds to wait for an ACK before resending (Steward's defaultMessageTimeout); default 10 s. */
      ackTimeout: positiveSeconds().default(10),
      /** Resends when no ACK arrives (Steward's defaultMessageRetries); default 1. */
      retries: count().default(1),
      /** `ackTimeout` for reply messages; default 10 s. */
      replyAckTimeout: positiveSeconds().default(10),
      /** `retries` for reply messages; default 1. */
      replyRetries: count().default(1),
      /** Seconds a method may run before it is killed (Steward's defaultMethodTimeout); default 10 s. */
      methodTimeout: positiveSeconds().default(10),
      /** Seconds a reply method may run; default 10 s. */
      replyMethodTimeout: positiveSeconds().default(10),
      /** Seconds a message may wait for delivery before it ends `expired`; default 3600 s. */
      ttl: positiveSeconds().default(3600),
      /** Longest time to live a message is given, sent or received (a longer ttl or expiresAt is refused at submit and capped on receipt; `messages.ttl` may not exceed it); default 604800 s (7 days). */
      maxTtl: positiveSeconds().max(315_360_000).default(604_800),
    })
    .strict()
    .superRefine((m, ctx) => {
      if (m.ttl > m.maxTtl) {
        ctx.addIssue({
          code: 'custom',
          path: ['ttl'],
          message: `a number <= messages.maxTtl (${m.maxTtl} s)`,
          input: m.ttl,
        });
      }
    });

  const RetryConfigSchema = z
    .object({
      /** First retry delay, in ms; doubles per attempt; default 500 ms. */
      baseMs: z.number().int().positive().default(500),
      /** Longest retry delay, in ms; default 30000 ms. */
      maxMs: z.number().int().positive().default(30_000),
      /** Random spread applied to each delay, as a fraction (0.2 = ±20 %); default 0.2. */
      jitter: z.number().min(0).max(1).default(0.2),
    })
    .strict();

  const InputsConfigSchema = z
    .object({
      /** Accept messages on the unix socket `<dataDir>/admiral.sock`; default true. */
      socket: z.boolean().default(true),
      /** Accept messages on a TCP listener at `host:port` (loopback only: it has no authentication, as Steward's); default off. */
      tcpListen: hostPort.optional(),
      /** Accept messages (POST a JSON array, with the node's bearer token) on an HTTP listener at `host:port`; default off. */
      httpListen: hostPort.optional(),
      /** Pick up message files dropped into this folder; default off. */
      watchFolder: path().optional(),
    })
    .strict();

  const LimitsConfigSchema = z
    .object({
      /** Most bytes of command output kept and sent back, in bytes; default 10485760 (10 MiB). */
      maxOutputBytes: z
        .number()
        .int()
        .positive()
        .default(10 * 1024 * 1024),
    })
    .strict();

  const PathsConfigSchema = z
    .object({
      /** Paths (and everything under them) that file-reading methods may read; default none. */
      readAllow: z.array(path()).default([]),
    })
    .strict();

  const StatusFileConfigSchema = z
    .object({
      /** Where the JSON status file is written; default `<dataDir>/status.json`. */
      path: path().optional(),
      /** Seconds between writes; 0 disables the status file; default 30 s. */
      interval: seconds().default(30),
    })
    .strict();

  const TrustConfigSchema = z
    .object({
      /** Public keys (ed25519) trusted in addition to the data dir's trust store; default none. */
      keys: z.array(z.string().min(1)).default([]),
      /** Seconds a message's `createdAt` may lie in the future before it is rejected; default 60 s. */
      maxClockSkew: seconds().default(DEFAULT_MAX_CLOCK_SKEW_MS / 1000),
    })
    .strict();

  const StoreConfigSchema = z
    .object({
      /** `normal` survives a crash of the process, `full` also power loss (an fsync per commit); default normal. */
      synchronous: z.enum(['normal', 'full']).default('normal'),
      /** How long a write waits for a locked database, in ms; default 5000 ms. */
      busyTimeoutMs: count().default(5000),
      /** Seconds inbox ids are kept after their message expired, to catch late duplicates; default 3600 s. */
      inboxKeepAfterExpiry: seconds().default(3600),
      /** fsync the audit log after every line; default false. */
      auditFsync: z.boolean().default(false),
    })
    .strict();

  const CentralJobsConfigSchema = z
    .object({
      /** Seconds a finished job and its per-node results are kept in central's job store; default 604800 s (7 days). */
      retention: seconds().default(604_800),
      /** Seconds a job's per-node message may wait for its node before it ends `expired`; default 60 s. */
      ttl: positiveSeconds().default(60),
      /** Seconds a job's command may run on a node when the job names no timeout; default 60 s. */
      methodTimeout: positiveSeconds().default(60),
      /** Seconds past the method timeout that a node which ACKed has to answer before it is `did-not-answer`; default 30 s. */
      replyGrace: seconds().default(30),
    })
    .strict();

  const CentralHttpConfigSchema = z
    .object({
      /** Bearer token of the node's HTTP listener, its message input and central's API (`Authorization: Bearer …`); default: made once into `<dataDir>/api-token`. Redacted when printed. */
      token: z.string().min(16).optional(),
    })
    .strict();

  const CentralRegistryConfigSchema = z
    .object({
      /** Seconds between backups of the service registry into `backupDir` (bpbroker's backup_freq_secs); 0 disables; default 3600 s. */
      backupFreqSecs: seconds().default(3600),
      /** Registry backups kept, oldest deleted first (bpbroker's backup_retain_n); default 24. */
      backupRetainN: z.number().int().positive().default(24),
      /** Folder for registry backups; default `<dataDir>/backups`. */
      backupDir: path().optional(),
    })
    .strict();

  const CentralExtensionsConfigSchema = z
    .object({
      /** Folder of installed extension modules (`admiral install-extension`); default `<dataDir>/extensions`. */
      dir: path().optional(),
      /** Seconds an extension method may run before its process is killed; default 10 s. */
      timeout: positiveSeconds().default(10),
      /** Heap limit of an extension's process, in MB; default 256 MB. */
      maxMemoryMb: z.number().int().positive().default(256),
      /** Extension methods run at once; more wait their turn; default 4. */
      maxConcurrent: z.number().int().positive().default(4),
    })
    .strict();

  const CentralDiscoveryConfigSchema = z
    .object({
      /** Answer UDP discovery on the central; default true. */
      enabled: z.boolean().default(true),
      /** Address the central's discovery responder binds (0.0.0.0 to hear broadcasts); default 0.0.0.0, or 127.0.0.1 and 127.255.255.255 when every broker URL the central uses is on loopback. */
      listen: z.string().min(1).optional(),
      /** UDP port of discovery, for the responder and `admiral discover` (bpbroker's 20443; 0: the responder takes any free port); default 20443. */
      port: z.number().int().min(0).max(65535).default(20443),
      /** Address `admiral discover` sends to; default 255.255.255.255. */
      broadcast: z.string().min(1).default('255.255.255.255'),
      /** Discovery requests answered per second per source address (more are dropped); default 5. */
      ratePerSource: z.number().positive().default(5),
      /** Public keys `admiral discover` accepts replies from (none: any correctly signed reply); default none. */
      trustedKeys: z.array(z.string().min(1)).default([]),
    })
    .strict();

  const accessKey = z.string().min(1);

  const CentralAccessKeysConfigSchema = z
    .object({
      /** Registry names (`*` matches any run of characters) and the key a request on them must carry; default none. Redacted when printed. */
      services: z.array(z.strictObject({ pattern: z.string().min(1), key: accessKey })).default([]),
      /** Extension modules and the key `admiral execute` on them must carry; default none. Redacted when printed. */
      extensions: z
        .array(z.strictObject({ module: z.string().min(1), key: accessKey }))
        .default([]),
    })
    .strict();

  const CentralEnrolConfigSchema = z
    .object({
      /** Seconds a join token made without `--ttl` (and the one `admiral up --listen` prints) stays valid; default 3600 s. */
      tokenTtl: positiveSeconds().default(3600),
      /** Most nodes waiting for an operator (no valid token) at once; more are refused as busy, not recorded; default 100. */
      maxPending: z.number().int().positive().default(100),
      /** Seconds a waiting node may go without asking again before its pending entry is dropped; default 3600 s. */
      pendingTtl: positiveSeconds().default(3600),
      /** Enrolment requests per second without a valid join token, all together (and at most 3 at once, then one per second, per node name); default 20. */
      requestsPerSecond: z.number().positive().default(20),
      /** Folder made by `admiral nats init`: central enrols nodes on nats-server in operator mode, issuing each a user JWT, and pushes revocations to the servers; default none (no enrolment outside `admiral up --listen`). */
      natsOperatorDir: path().optional(),
    })
    .strict();

  const JoinConfigSchema = z
    .object({
      /** Join token (`admiral tokens create`, or printed by `admiral up --listen`); none waits for `admiral nodes accept`; default none. Redacted when printed. */
      token: z.string().min(1).optional(),
      /** SHA-256 fingerprint of the fleet's CA, as `admiral up --listen` prints it; setting it makes the node join a remote fleet; default none. */
      caFingerprint: z
        .string()
        .regex(/^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/, {
          message: 'a SHA-256 fingerprint: 64 hex digits, colons allowed',
        })
        .optional(),
      /** Seconds between enrolment requests while the node waits to be accepted; default 10 s. */
      retryInterval: positiveSeconds().default(10),
      /** The fleet's public enrolment JWT on nats-server in operator mode (`nats/enrol.jwt`, printed by `admiral nats init`); default none (the embedded broker's enrolment user). */
      enrolJwt: z
        .string()
        .regex(/^[\w-]+\.[\w-]+\.[\w-]+$/, { message: 'a JWT (three base64url parts)' })
        .optional(),
    })
    .strict();

  const CentralInventoryConfigSchema = z
    .object({
      /** Hellos a node may miss before the inventory marks it offline; default 3. */
      missedHellos: z.number().int().positive().default(3),
    })
    .strict();

  const CentralStateConfigSchema = z
    .object({
      /** Where central keeps its shared state: `sqlite` (one file in the data dir) or `jetstream` (KV buckets on a nats-server with JetStream, shared by several centrals); default sqlite. */
      backend: z.enum(['sqlite', 'jetstream']).default('sqlite'),
      /** Copies of each JetStream bucket on different servers (1, 3 or 5; R3 on a 3-server cluster survives one loss); default 1. */
      replicas: z.union([z.literal(1), z.literal(3), z.literal(5)]).default(1),
      /** Prefix of the JetStream bucket names (`<prefix>_registry`, `<prefix>_leader`); default `admiral`. */
      bucketPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,32}$/, { message: '1 to 32 of A-Z a-z 0-9 _ -' })
        .default('admiral'),
      /** This central among those sharing one name and key (the leader lease's holder, shown as who leads); default the node's name. */
      instance: z
        .string()
        .regex(/^[A-Za-z0-9_.@-]{1,64}$/, { message: '1 to 64 of A-Z a-z 0-9 _ . @ -' })
        .optional(),
    })
    .strict();

  /** Duties of the central node; sections are added by the central features (jobs, registry, …). */
  const CentralConfigSchema = z
    .object({
      jobs: CentralJobsConfigSchema.prefault({}),
      http: CentralHttpConfigSchema.prefault({}),
      registry: CentralRegistryConfigSchema.prefault({}),
      extensions: CentralExtensionsConfigSchema.prefault({}),
      discovery: CentralDiscoveryConfigSchema.prefault({}),
      accessKeys: CentralAccessKeysConfigSchema.prefault({}),
      inventory: CentralInventoryConfigSchema.prefault({}),
      enrol: CentralEnrolConfigSchema.prefault({}),
      state: CentralStateConfigSchema.prefault({}),
    })
    .strict();

  /** Flood control of the chat bridge's lines (src/chat/rate-limiter.ts). */
  const ChatFloodConfigSchema = z
    .object({
      /** Lines the bridge may send at once after a quiet spell; default 4. */
      burst: z.number().int().positive().default(4),
      /** Lines per second after the burst (stay under the server's limit); default 1. */
      perSecond: z.number().positive().default(1),
      /** Lines waiting at most; more are dropped; default 50. */
      maxQueued: z.number().int().positive().default(50),
    })
    .strict();

  /** The IRC chat bridge (`admiral chat irc`, or inside `admiral up` when `server` is set). */
  const ChatIrcConfigSchema = z
    .object({
      /** IRC server, `host:port`; setting it runs the bridge inside `admiral up`; default none. */
      server: hostPort.optional(),
      /** TLS to the IRC server (certificate checked); default false. */
      tls: z.boolean().default(false),
      /** The bridge's nick, also the name it answers to (`admiral: ping`); default admiral. */
      nick: z
        .string()
        .regex(/^[A-Za-z[\]\\^_`{|}][A-Za-z0-9[\]\\^_`{|}-]{0,29}$/, {
          message: 'an IRC nick: a letter or one of [ ] \\ ^ _ ` { | } first, up to 30 characters',
        })
        .default('admiral'),
      /** The channel it joins and answers in, e.g. `#ops`; default #ops. */
      channel: z
        .string()
        // Channel names exclude space, comma and BEL (RFC 2812 section 1.3).
        // eslint-disable-next-line no-control-regex
        .regex(/^[#&][^\s,\u0007\u0000]{1,49}$/, { message: 'a channel name like #ops' })
        .default('#ops'),
      /** Key of the channel, if it has one; default none. Redacted when printed. */
      channelPassword: z.string().min(1).optional(),
      /** Server password (PASS); default none. Redacted when printed. */
      password: z.string().min(1).optional(),
      /** Who may use every command (run, fleet, cancel and the read-only ones): `nick!user@host` masks with `*` and `?`, or `account:NAME`; default none. */
      allow: z.array(z.string().min(1)).default([]),
      /** Who may use the read-only commands (ping, nodes, jobs, job); same forms as `allow`; default none. */
      allowRead: z.array(z.string().min(1)).default([]),
      /** Seconds a job waits for its nodes' acknowledgements before the bridge says how many came; default 5 s. */
      ackWait: positiveSeconds().default(5),
      /** Most output lines shown per node of a job; default 3. */
      linesPerNode: z.number().int().positive().default(3),
      /** Most lines for a job's nodes together; the rest are counted in the summary; default 12. */
      maxLines: z.number().int().positive().default(12),
      /** Link to a job shown with its summary, `{id}` replaced by the job id (the dashboard's); default none. */
      jobUrl: z.string().min(1).optional(),
      /** Commands carried out at once; more are refused as busy; default 4. */
      maxConcurrent: z.number().int().positive().default(4),
      /** First wait before reconnecting to the IRC server, doubled up to `reconnectMax`; default 1 s. */
      reconnectMin: positiveSeconds().default(1),
      /** Longest wait between reconnects; default 60 s. */
      reconnectMax: positiveSeconds().default(60),
      flood: ChatFloodConfigSchema.prefault({}),
    })
    .strict();

  const ChatConfigSchema = z
    .object({
      irc: ChatIrcConfigSchema.prefault({}),
    })
    .strict();

  const ConfigSchema = z
    .object({
      /** This node's name, 1 to 64 of A-Z a-z 0-9 _ -; required by `node start`; default none. */
      nodeName: nodeName.optional(),
      /** Folder for the database, socket, keys, results and logs; default ./admiral-data. */
      dataDir: path().default('./admiral-data'),
      /** Name of the central node that receives hello and error log messages; default central. */
      centralNode: nodeName.default('central'),
      /** Seconds a client command waits for the broker and for a central to answer (a broker or central restarting) before it fails; default 5 s. */
      centralWait: seconds().default(5),
      /** This node takes the central role (inventory, error log, registry, jobs); default false. */
      isCentral: z.boolean().default(false),
      /** First token of every subject admiral uses; default adm. */
      subjectPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/, { message: 'one subject token of A-Z a-z 0-9 _ -' })
        .default('adm'),
      broker: BrokerConfigSchema.prefault({}),
      join: JoinConfigSchema.prefault({}),
      messages: MessageDefaultsSchema.prefault({}),
      retry: RetryConfigSchema.prefault({}),
      /** Seconds between hello messages to central (Steward's startPubREQHello); 0 disables; default 30 s. */
      helloInterval: seconds().default(30),
      /** Tags of this node, sent in its facts (`--where tags=web`); default none. */
      tags: z.array(z.string().min(1)).default([]),
      /** Folder of custom facts files (JSON or YAML objects) sent with hello; default `<dataDir>/facts.d`. */
      factsDir: path().optional(),
      inputs: InputsConfigSchema.prefault({}),
      /** Compression of sent payloads (received ones are detected); default none. */
      compression: z.enum(COMPRESSIONS).default('none'),
      limits: LimitsConfigSchema.prefault({}),
      paths: PathsConfigSchema.prefault({}),
      /** Serve Prometheus metrics at `http://host:port/metrics`; default off. */
      metricsListen: hostPort.optional(),
      statusFile: StatusFileConfigSchema.prefault({}),
      /** Least severe log level written; default info. */
      logLevel: z.enum(LOG_LEVELS).default('info'),
      trust: TrustConfigSchema.prefault({}),
      store: StoreConfigSchema.prefault({}),
      central: CentralConfigSchema.prefault({}),
      chat: ChatConfigSchema.prefault({}),
    })
    .strict();
  return ConfigSchema;
}

export type ConfigSchemaType = ReturnType<typeof buildConfigSchema>;
let built: WeakRef<ConfigSchemaType> | undefined;

/** The configuration's schema; built on first use and again once collected. */
export function configSchema(): ConfigSchemaType {
  let schema = built?.deref();
  if (schema === undefined) {
    schema = buildConfigSchema();
    built = new WeakRef(schema);
  }
  return schema;
}

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The validated, frozen configuration. */
export type Config = DeepReadonly<z.output<ConfigSchemaType>>;
/** What a file, the environment or flags may give: every key optional. */
export type ConfigInput = z.input<ConfigSchemaType>;
