// Command-line flags that set configuration keys. The CLI registers these with commander and
// passes `flagsFromOptions(command.opts())` to `loadConfig` and `writeDefaultConfigFile`.

import { isSecretKey } from './redact.js';

export interface ConfigFlag {
  /** commander syntax, e.g. `--data-dir <dir>`. */
  readonly flags: string;
  /** The dotted config key it sets. */
  readonly key: string;
  readonly description: string;
}

export const CONFIG_FLAGS: readonly ConfigFlag[] = [
  { flags: '--name <name>', key: 'nodeName', description: "this node's name" },
  {
    flags: '--data-dir <dir>',
    key: 'dataDir',
    description: 'data folder (default ./admiral-data)',
  },
  { flags: '--central <name>', key: 'centralNode', description: 'name of the central node' },
  { flags: '--broker <url>', key: 'broker.url', description: 'broker address, nats://host:port' },
  { flags: '--nkey-seed-file <file>', key: 'broker.nkeySeedFile', description: 'nkey seed file' },
  {
    flags: '--creds <file>',
    key: 'broker.credsFile',
    description: 'NATS .creds file (user JWT + seed, operator mode)',
  },
  { flags: '--token <token>', key: 'broker.token', description: 'broker token' },
  { flags: '--user <user>', key: 'broker.user', description: 'broker user' },
  { flags: '--password <password>', key: 'broker.password', description: 'broker password' },
  {
    flags: '--root-ca <file>',
    key: 'broker.rootCa',
    description: "PEM CA of the broker's certificate",
  },
  {
    flags: '--client-cert <file>',
    key: 'broker.clientCert',
    description: 'PEM client certificate',
  },
  { flags: '--client-key <file>', key: 'broker.clientKey', description: 'PEM client key' },
  {
    flags: '--join <token>',
    key: 'join.token',
    description: 'join token of a remote fleet (from admiral up --listen or tokens create)',
  },
  {
    flags: '--ca-fingerprint <sha256>',
    key: 'join.caFingerprint',
    description: "SHA-256 of the remote fleet's CA; joins that fleet",
  },
  {
    flags: '--enrol-jwt <jwt>',
    key: 'join.enrolJwt',
    description: "the fleet's enrolment JWT (nats-server in operator mode)",
  },
  {
    flags: '--nats-operator <dir>',
    key: 'central.enrol.natsOperatorDir',
    description: 'central: enrol nodes with JWTs from this admiral nats init folder',
  },
  { flags: '--tcp-listen <host:port>', key: 'inputs.tcpListen', description: 'TCP message input' },
  {
    flags: '--http-listen <host:port>',
    key: 'inputs.httpListen',
    description: 'HTTP message input',
  },
  { flags: '--watch-folder <dir>', key: 'inputs.watchFolder', description: 'message file folder' },
  {
    flags: '--metrics-listen <host:port>',
    key: 'metricsListen',
    description: 'Prometheus /metrics',
  },
  { flags: '--status-file <file>', key: 'statusFile.path', description: 'JSON status file' },
  { flags: '--compression <kind>', key: 'compression', description: 'none, gzip or zstd' },
  { flags: '--log-level <level>', key: 'logLevel', description: 'trace … error, silent' },
  {
    flags: '--hello-interval <seconds>',
    key: 'helloInterval',
    description: 'seconds between hellos',
  },
  { flags: '--tags <tags>', key: 'tags', description: 'tags of this node, comma separated' },
  { flags: '--facts-dir <dir>', key: 'factsDir', description: 'custom facts folder' },
  {
    flags: '--central-state <backend>',
    key: 'central.state.backend',
    description: "central's state: sqlite, or jetstream (shared by several centrals)",
  },
  {
    flags: '--state-replicas <n>',
    key: 'central.state.replicas',
    description: 'copies of each JetStream bucket (1, 3 or 5)',
  },
  {
    flags: '--central-instance <name>',
    key: 'central.state.instance',
    description: 'this central among those sharing one name and key (who leads)',
  },
];

/** The commander attribute name of a flag: `--data-dir <dir>` → `dataDir`. */
export function flagAttribute(flags: string): string {
  const long = flags.split(/[ ,]+/).find((f) => f.startsWith('--')) ?? flags;
  return long.slice(2).replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

/** The flag that sets `key`, for error messages (`flag --broker`). */
export function flagForKey(key: string): string | undefined {
  const f = CONFIG_FLAGS.find((c) => c.key === key);
  return f?.flags.split(' ')[0];
}

/** Picks the config flags out of commander's parsed options, keyed by dotted config key. */
export function flagsFromOptions(opts: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of CONFIG_FLAGS) {
    const v = opts[flagAttribute(f.flags)];
    if (v !== undefined) out[f.key] = v;
  }
  return out;
}

/**
 * True when the value of flag `--name` is a secret: a config flag whose key ends in a secret
 * (`--password`, `--token`, `--join`), or any flag named like one (`--access-key`).
 */
export function isSecretFlag(name: string): boolean {
  const camel = name.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
  if (isSecretKey(camel)) return true;
  const config = CONFIG_FLAGS.find((f) => f.flags.startsWith(`--${name} `));
  return config !== undefined && isSecretKey(config.key.split('.').pop() ?? '');
}
