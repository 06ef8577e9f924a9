import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { NATS_OPERATOR_FILES, NatsOperator } from '../../src/central/nats-operator.js';
import { loadOrCreateIdentity, Subjects } from '../../src/protocol/index.js';
import { launchNatsCluster, type NatsCluster } from './nats-cluster.js';
import { requireNatsServer } from './nats-server.js';

// nats-server(s) in operator mode as admiral sets them up (docs/security.md, "On nats-server
// with JWTs"): `NatsOperator.init` in a central data dir's `nats/` folder, each server started
// with the configuration admiral writes (its own full-resolver folder), optionally JetStream and a
// cluster. Central's `central.creds` (its identity, unrestricted) is written into the data dir,
// as `admiral nats init` does.

export interface OperatorNatsOptions {
  /** Servers (a cluster with routes when more than one); default 1. */
  readonly size?: number;
  /** Each server with JetStream (its own store folder); default false. */
  readonly jetstream?: boolean;
  /** Subject prefix of the fleet; default `adm`. */
  readonly subjectPrefix?: string;
  /** Extra configuration text for every server. */
  readonly extraConfig?: string;
  /** TLS on every server: its certificate chain and key files, and the CA clients verify it with. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
  /**
   * A central data dir whose `nats/` holds an operator (made by `admiral nats init`), used as
   * it is and left in place; default a new temporary one, initialized here and removed by stop().
   */
  readonly dataDir?: string;
}

export interface OperatorNats {
  readonly cluster: NatsCluster;
  /** Every client URL, comma separated. */
  readonly urls: string;
  readonly operator: NatsOperator;
  /** The central's data dir (holds `identity.seed` and `nats/`). */
  readonly dataDir: string;
  /** Central's `.creds` file: its identity key, every permission. */
  readonly centralCreds: string;
  /** The system account user's `.creds` file (pushes account updates). */
  readonly systemCreds: string;
  /** A connection as the system user; closed by stop(). */
  system(): Promise<NatsConnection>;
  stop(): Promise<void>;
}

/** Starts the servers without a test context; the caller must call stop(). */
export async function launchOperatorNats(
  bin: string,
  options: OperatorNatsOptions = {},
): Promise<OperatorNats> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'admiral-operator-')));
  const subjects = new Subjects(options.subjectPrefix ?? 'adm');
  const natsDir = join(dataDir, NATS_OPERATOR_FILES.dir);
  let operator: NatsOperator;
  let centralCreds = join(natsDir, NATS_OPERATOR_FILES.centralCreds);
  if (options.dataDir !== undefined && NatsOperator.exists(natsDir)) {
    operator = NatsOperator.load(natsDir, subjects);
  } else {
    operator = NatsOperator.init(natsDir, subjects);
    const identity = await loadOrCreateIdentity(join(dataDir, 'identity.seed'));
    centralCreds = operator.writeCentralCreds(identity, 'central');
  }
  const systemCreds = join(natsDir, NATS_OPERATOR_FILES.systemCreds);
  const { tls } = options;
  const clientTls = tls ? { tls: { caFile: tls.caFile } } : {};
  const systemAuth = () => credsAuthenticator(new TextEncoder().encode(operator.systemCreds()));
  const conns: NatsConnection[] = [];
  let cluster: NatsCluster | undefined;
  const stop = async (): Promise<void> => {
    for (const c of conns) await c.close().catch(() => undefined);
    await cluster?.stop();
    if (options.dataDir === undefined) await rm(dataDir, { recursive: true, force: true });
  };
  try {
    cluster = await launchNatsCluster(bin, {
      size: options.size ?? 1,
      config: (name, dir) =>
        [
          operator.serverConf(join(dir, `${name}-jwt`)),
          ...(options.jetstream === true
            ? [`jetstream { store_dir: ${JSON.stringify(join(dir, `${name}-js`))} }`]
            : []),
          ...(tls
            ? [
                `tls { cert_file: ${JSON.stringify(tls.certFile)}, key_file: ${JSON.stringify(tls.keyFile)} }`,
              ]
            : []),
          options.extraConfig ?? '',
        ].join('\n'),
      probe: { authenticator: systemAuth(), ...clientTls },
    });
  } catch (err) {
    await stop();
    throw err;
  }
  const urls = cluster.urls;
  return {
    cluster,
    urls,
    operator,
    dataDir,
    centralCreds,
    systemCreds,
    system: async () => {
      const nc = await connect({
        servers: urls.split(','),
        name: 'admiral-system',
        authenticator: systemAuth(),
        ...clientTls,
      });
      conns.push(nc);
      return nc;
    },
    stop,
  };
}

/**
 * Starts nats-server(s) in operator mode for the test `t`, stopped when it ends. Resolves to
 * undefined when nats-server is missing and the test was skipped (requireNatsServer).
 */
export async function startOperatorNats(
  t: TestContext,
  options: OperatorNatsOptions = {},
): Promise<OperatorNats | undefined> {
  const bin = requireNatsServer(t);
  if (bin === undefined) return undefined;
  const nats = await launchOperatorNats(bin, options);
  t.after(() => nats.stop());
  return nats;
}
