import * as z from 'zod';

// The embedded broker's options. Names follow nats-server's configuration keys
// (server/opts.go) in camelCase; `src/broker/conf.ts` maps a nats-server config file onto them,
// so one file configures either broker.

const subjectList = z.array(z.string().min(1));

/** Allow and deny lists of subjects (wildcards allowed). Deny wins over allow. */
export const SubjectPermissionSchema = z
  .object({
    allow: subjectList.optional(),
    deny: subjectList.optional(),
  })
  .strict();

/** nats-server's `allow_responses`: true, or limits on responses to received requests. */
export const ResponsePermissionSchema = z
  .object({
    /** How many responses may be published to one reply subject; default 1. */
    max: z.number().int().nonnegative().default(1),
    /** How long, in ms, a reply subject stays publishable; default 0 (no limit). */
    expires: z.number().int().nonnegative().default(0),
  })
  .strict();

export const PermissionsSchema = z
  .object({
    publish: SubjectPermissionSchema.optional(),
    subscribe: SubjectPermissionSchema.optional(),
    allowResponses: z.union([z.boolean(), ResponsePermissionSchema]).optional(),
  })
  .strict();

export const UserSchema = z
  .object({
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    /** Public nkey of a user (starts with `U`); the client signs the server's nonce. */
    nkey: z.string().min(1).optional(),
    permissions: PermissionsSchema.optional(),
  })
  .strict()
  .refine((u) => (u.user === undefined) !== (u.nkey === undefined), {
    message: 'a user needs exactly one of `user` or `nkey`',
  });

export const AuthorizationSchema = z
  .object({
    token: z.string().min(1).optional(),
    user: z.string().min(1).optional(),
    password: z.string().optional(),
    users: z.array(UserSchema).optional(),
    /** Permissions for users that have none of their own. */
    defaultPermissions: PermissionsSchema.optional(),
    /** Seconds a client has to send CONNECT once auth is required; default 2 s. */
    timeout: z.number().positive().default(2),
  })
  .strict();

export const TlsSchema = z
  .object({
    /** PEM server certificate (the file's contents, not its path). */
    cert: z.string().min(1),
    /** PEM private key of the server certificate. */
    key: z.string().min(1),
    /** PEM CA bundle used to verify client certificates. */
    ca: z.string().optional(),
    /** Require and verify a client certificate; default false. */
    verify: z.boolean().default(false),
    /** Seconds allowed for the TLS handshake; default 2 s. */
    timeout: z.number().positive().default(2),
  })
  .strict();

export const WebSocketSchema = z
  .object({
    /** Address of the WebSocket listener; default the client `host`. */
    host: z.string().optional(),
    /** Port; 0 picks a free port. */
    port: z.number().int().min(0).max(65535),
    /** Serve plain `ws://` (the only form the embedded broker has); must be true. */
    noTls: z.boolean().default(false),
    /** permessage-deflate compression; default off. */
    compression: z.boolean().default(false),
    /** Seconds allowed for the HTTP upgrade; default 2 s. */
    handshakeTimeout: z.number().positive().default(2),
    /** Refuse a browser's upgrade whose Origin is not the listener's own host; default false. */
    sameOrigin: z.boolean().default(false),
    /** Origins (`scheme://host[:port]`) a browser's upgrade may come from; default any. */
    allowedOrigins: z.array(z.string().url()).default([]),
  })
  .strict();

export const BrokerOptionsSchema = z
  .object({
    /** Address to listen on; default 127.0.0.1. */
    host: z.string().default('127.0.0.1'),
    /** TCP port; default 4222; 0 picks a free port. */
    port: z.number().int().min(0).max(65535).default(4222),
    /** Tags reported in /varz (`server_tags`); default none. */
    serverTags: z.array(z.string()).default([]),
    /** Name reported in INFO; default the server id. */
    serverName: z.string().optional(),
    /** Largest payload a client may publish, in bytes; default 1 MiB. */
    maxPayload: z
      .number()
      .int()
      .positive()
      .default(1024 * 1024),
    /** Longest protocol control line, in bytes; default 4096. */
    maxControlLine: z.number().int().positive().default(4096),
    /** Most client connections at once; default 65536. */
    maxConnections: z.number().int().positive().default(65536),
    /** Most subscriptions per connection; 0 = unlimited (default). */
    maxSubscriptions: z.number().int().nonnegative().default(0),
    /** Outbound bytes buffered per connection before it is closed as a slow consumer; default 64 MiB. */
    maxPending: z
      .number()
      .int()
      .positive()
      .default(64 * 1024 * 1024),
    /** Interval between server PINGs, in ms; default 2 min. */
    pingInterval: z.number().int().positive().default(120_000),
    /** Unanswered PINGs before the connection is closed as stale; default 2. */
    maxPingsOut: z.number().int().positive().default(2),
    /** How long, in ms, a blocked write may last before the client is a slow consumer; default 10 s. */
    writeDeadline: z.number().int().positive().default(10_000),
    /** Monitoring HTTP address; default the client `host`. */
    httpHost: z.string().optional(),
    /** Monitoring HTTP port (`/varz`, `/connz`, …); unset = no monitoring (default), 0 = any free port. */
    httpPort: z.number().int().min(0).max(65535).optional(),
    /** Monitoring over HTTPS with the `tls` certificate; unset = none (default), 0 = any free port. */
    httpsPort: z.number().int().min(0).max(65535).optional(),
    /** Path prefix of the monitoring endpoints; default none. */
    httpBasePath: z.string().default(''),
    /** Lame duck mode: time over which the clients are closed, in ms; default 2 min. */
    lameDuckDuration: z.number().int().positive().default(120_000),
    /** Lame duck mode: wait after the INFO `ldm` before the first client is closed, in ms; default 10 s. */
    lameDuckGracePeriod: z.number().int().nonnegative().default(10_000),
    /** Folder for the `<exe>_<pid>.ports` file listing the bound URLs; default none. */
    portsFileDir: z.string().min(1).optional(),
    /** Operator mode: trusted operator JWTs (their text); users then authenticate with JWTs. */
    operators: z.array(z.string().min(1)).default([]),
    /** Operator mode: trusted operator public keys (O...), instead of or besides `operators`. */
    trustedKeys: z.array(z.string().min(1)).default([]),
    /** The memory resolver: account public key → account JWT. */
    resolverPreload: z.record(z.string(), z.string()).default({}),
    authorization: AuthorizationSchema.optional(),
    tls: TlsSchema.optional(),
    /** With `tls`, also serve clients that do not start TLS (INFO says `tls_available`); default false. */
    allowNonTls: z.boolean().default(false),
    /** WebSocket listener for browsers and nats.js's `wsconnect`; default none. */
    websocket: WebSocketSchema.optional(),
    /** Log connections and protocol errors at debug level (nats-server's `debug`); default false. */
    debug: z.boolean().default(false),
    /** Also log each operation a client sends, as nats-server's `trace` (`<<- [SUB foo 1]`); default false. */
    trace: z.boolean().default(false),
    /** Allow a non-loopback listener without TLS and auth; default false. */
    insecure: z.boolean().default(false),
  })
  .strict();

/** What callers pass: every field optional, defaults applied by `BrokerOptionsSchema`. */
export type BrokerOptionsInput = z.input<typeof BrokerOptionsSchema>;
/** Options after validation, with every default filled in. */
export type BrokerOptions = z.output<typeof BrokerOptionsSchema>;
export type Permissions = z.output<typeof PermissionsSchema>;
/** Permissions as given (defaults not yet applied). */
export type PermissionsInput = z.input<typeof PermissionsSchema>;
export type BrokerUser = z.output<typeof UserSchema>;

/** Counters read by the metrics layer. */
export interface BrokerStats {
  connections: number;
  totalConnections: number;
  subscriptions: number;
  inMsgs: number;
  outMsgs: number;
  inBytes: number;
  outBytes: number;
  slowConsumers: number;
}
