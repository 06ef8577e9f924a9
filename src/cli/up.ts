import { rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { Broker, isLoopbackHost, type PermissionsInput } from '../broker/index.js';
import {
  EnrolmentExtension,
  embeddedBrokerAccess,
  enrolmentBrokerUsers,
} from '../central/enrolment.js';
import { EnrolmentStore } from '../central/enrolment-store.js';
import { centralExtensions } from '../central/index.js';
import { type ChatExtension, chatExtension } from '../chat/bridge.js';
import { ensureServerPki, type ServerPki, serverNames } from '../central/pki.js';
import { LOCAL_BROKER_FILE } from '../client/connect.js';
import { flagsFromOptions } from '../config/flags.js';
import { loadConfig } from '../config/load.js';
import { API_TOKEN_FILE } from '../http/bearer.js';
import type { Config } from '../config/schema.js';
import { fleetExtensions } from '../fleet/index.js';
import { nodeOptionsFromConfig } from '../node/from-config.js';
import { AdmiralNode } from '../node/node.js';
import type { Logger } from '../observability/logger.js';
import { loadOrCreateIdentity, Subjects } from '../protocol/index.js';
import { CliError } from './errors.js';
import { logLine, untilSignal } from './lifecycle.js';
import { stderrLogger } from './logger.js';
import { persistFlags } from './node.js';
import { parsePort } from './parse.js';
import { UP_FILE } from './up-file.js';

interface UpFlags {
  dataDir?: string;
  brokerPort: number;
  listen?: string;
  advertise?: string;
  insecure?: boolean;
  secure?: boolean;
  httpListen: string;
  logLevel?: string;
}

/** `--listen host:port` (port 0: any free one); `--broker-port` when only a host is given. */
function parseListen(value: string, fallbackPort: number): { host: string; port: number } {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(value.trim());
  const port = m?.[2] === undefined ? fallbackPort : Number(m[2]);
  if (!m || port > 65535) {
    throw new CliError(
      `Expected --listen to be host:port, e.g. 0.0.0.0:4222, got ${JSON.stringify(value)}`,
    );
  }
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

const urlHost = (h: string): string => (h.includes(':') ? `[${h}]` : h);

/** Where `up` serves HTTP unless told otherwise. */
export const UP_HTTP_DEFAULT = '127.0.0.1:4280';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start everything on this machine: the embedded broker and the central node')
    .option('--data-dir <dir>', 'where state is kept (default ./admiral-data, or ADMIRAL_DATA_DIR)')
    .option(
      '--broker-port <port>',
      'broker TCP port on 127.0.0.1, 0 for any free port',
      parsePort,
      4222,
    )
    .option(
      '--listen <host:port>',
      'open the broker to other machines: TLS, nkey authentication and join tokens turn on (default 127.0.0.1, no auth)',
    )
    .option(
      '--advertise <host>',
      'host name remote nodes dial, in the printed join command (default this host name)',
    )
    .option('--insecure', 'with --listen: no TLS and no authentication (explicit opt-out)')
    .option(
      '--secure',
      'TLS, nkey authentication and join tokens even on a loopback --listen (behind an SSH tunnel or a proxy)',
    )
    .option('--http-listen <host:port>', 'HTTP input and API address', UP_HTTP_DEFAULT)
    .option('--log-level <level>', 'trace … error, silent')
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<UpFlags>();
      const listen = parseListen(opts.listen ?? '127.0.0.1', opts.brokerPort);
      // DESIGN.md, "Security by default": loopback without auth only in local mode.
      if (opts.secure === true && opts.insecure === true) {
        throw new CliError('--secure and --insecure contradict each other: give one');
      }
      const secure =
        opts.secure === true || (!isLoopbackHost(listen.host) && opts.insecure !== true);
      const first = loadConfig({
        flags: {
          ...flagsFromOptions(opts as unknown as Record<string, unknown>),
          nodeName: 'central',
          isCentral: true,
        },
      });
      const dataDir = resolve(first.config.dataDir);
      if (first.config.central.enrol.natsOperatorDir !== undefined) {
        throw new CliError(
          'central.enrol.natsOperatorDir is for a central on nats-server (admiral node start --central-role); admiral up runs its own broker and enrolment: unset it',
        );
      }
      const fleet = secure
        ? await secureFleet(dataDir, first.config, listen, opts.advertise)
        : undefined;
      const broker = await Broker.start(
        {
          host: listen.host,
          port: listen.port,
          ...(fleet ? { tls: fleet.tls, authorization: { users: fleet.users } } : {}),
          ...(opts.insecure === true && { insecure: true }),
        },
        stderrLogger('warn'),
      );
      // Central dials its own broker on loopback (the certificate covers 127.0.0.1).
      const localUrl = `${fleet ? 'tls' : 'nats'}://${isLoopbackHost(listen.host) ? urlHost(listen.host) : '127.0.0.1'}:${broker.port}`;
      const flags: Record<string, unknown> = {
        ...flagsFromOptions(opts as unknown as Record<string, unknown>),
        nodeName: 'central',
        isCentral: true,
        'broker.url': localUrl,
        ...(fleet && {
          'broker.nkeySeedFile': fleet.seedFile,
          'broker.rootCa': fleet.pki.caFile,
        }),
        'inputs.httpListen': opts.httpListen,
        // Central dials 127.0.0.1 even when the broker listens for the fleet: discovery follows
        // --listen instead (unless configured), so other machines can discover this central.
        ...(!isLoopbackHost(listen.host) &&
          first.config.central.discovery.listen === undefined && {
            'central.discovery.listen': '0.0.0.0',
          }),
      };
      let node: AdmiralNode;
      let enrolment: EnrolmentExtension | undefined;
      let chat: ChatExtension | undefined;
      let log: Logger;
      try {
        writeLocalBroker(
          dataDir,
          fleet
            ? { url: localUrl, nkeySeedFile: fleet.seedFile, rootCa: fleet.pki.caFile }
            : undefined,
        );
        const loaded = loadConfig({ flags });
        log = stderrLogger(loaded.config.logLevel);
        enrolment = fleet
          ? new EnrolmentExtension({
              store: fleet.store,
              broker: embeddedBrokerAccess(broker),
              tokenTtlMs: loaded.config.central.enrol.tokenTtl * 1000,
              maxPending: loaded.config.central.enrol.maxPending,
              pendingTtlMs: loaded.config.central.enrol.pendingTtl * 1000,
              requestsPerSecond: loaded.config.central.enrol.requestsPerSecond,
            })
          : undefined;
        // The chat bridge (docs/chat.md) when chat.irc.server is configured.
        chat =
          loaded.config.chat.irc.server !== undefined
            ? chatExtension(loaded.config, log)
            : undefined;
        node = await AdmiralNode.start({
          ...nodeOptionsFromConfig(loaded.config, log),
          extensions: [
            ...fleetExtensions(loaded.config),
            ...centralExtensions(loaded.config),
            ...(enrolment ? [enrolment] : []),
            ...(chat ? [chat] : []),
          ],
        });
      } catch (err) {
        await broker.close();
        throw err;
      }
      // Written once central runs with them, so a refused value never lands in the file. The
      // broker URL and credentials change with --broker-port and --listen: they are not written
      // back (local clients read local-broker.json); the rest is.
      const {
        'broker.url': _url,
        'broker.nkeySeedFile': _seed,
        'broker.rootCa': _ca,
        'central.discovery.listen': _discoveryListen,
        ...persisted
      } = flags;
      persistFlags(dataDir, persisted, log);
      writeUpArgs(dataDir, upArgs(opts));
      const socket = node.inputs.find((i) => i.name === 'socket')?.address ?? '(off)';
      const lines = [
        'admiral is up',
        `  broker:   ${fleet ? `tls://${urlHost(listen.host)}:${broker.port} (TLS, nkey authentication)` : broker.url}`,
        `  node:     central (central role)`,
        `  socket:   ${socket}`,
        `  http:     ${node.httpServer?.url ?? '(off)'}`,
        ...(node.httpServer
          ? [
              `  dashboard: ${node.httpServer.url}/ (log in with the token in ${join(node.options.dataDir, API_TOKEN_FILE)})`,
            ]
          : []),
        `  data dir: ${node.options.dataDir}`,
        ...(chat?.publicKey !== undefined
          ? [
              `  chat:     ${chat.describe()}; its key ${chat.publicKey} (central must trust it: admiral trust add ${chat.publicKey} --label chat-irc)`,
            ]
          : []),
        '',
      ];
      if (fleet && enrolment) {
        const ttl = first.config.central.enrol.tokenTtl;
        const { token } = enrolment.createToken(ttl * 1000, 'printed by admiral up');
        const host = opts.advertise ?? (isWildcard(listen.host) ? hostname() : listen.host);
        lines.push(
          `  CA fingerprint (SHA-256): ${fleet.pki.caFingerprint}`,
          '',
          `To join another machine to this fleet, run there (the token is valid for ${formatSeconds(ttl)}):`,
          `  admiral node start --name NAME --broker tls://${urlHost(host)}:${broker.port} --join ${token} --ca-fingerprint ${fleet.pki.caFingerprint}`,
          'Without --join a node waits for: admiral nodes accept NAME',
          '',
        );
      } else {
        lines.push(
          'Try, in another terminal:',
          `  npx admiral ping central`,
          `  npx admiral send examples/hello.json`,
          '',
        );
      }
      process.stdout.write(lines.join('\n'));
      const signal = await untilSignal();
      logLine('info', 'shutting down', { signal });
      await node.close();
      await broker.close();
    });
}

const isWildcard = (h: string): boolean => h === '0.0.0.0' || h === '::';

function formatSeconds(s: number): string {
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

interface SecureFleet {
  readonly pki: ServerPki;
  readonly tls: { cert: string; key: string };
  readonly users: {
    user?: string;
    password?: string;
    nkey?: string;
    permissions?: PermissionsInput;
  }[];
  readonly store: EnrolmentStore;
  /** Central's identity seed: its broker nkey. */
  readonly seedFile: string;
}

/** What `--listen` on a non-loopback address turns on: certificates, nkey users, enrolment. */
async function secureFleet(
  dataDir: string,
  config: Config,
  listen: { host: string },
  advertise: string | undefined,
): Promise<SecureFleet> {
  const pki = await ensureServerPki(dataDir, serverNames(listen.host, advertise));
  const seedFile = join(dataDir, 'identity.seed');
  const identity = await loadOrCreateIdentity(seedFile);
  const store = new EnrolmentStore(join(dataDir, 'enrolment.json'));
  const users = enrolmentBrokerUsers(store, new Subjects(config.subjectPrefix), {
    name: 'central',
    publicKey: identity.publicKey,
  });
  return { pki, tls: { cert: pki.certChainPem, key: pki.keyPem }, users, store, seedFile };
}

/** The network flags `up` was started with, so `install-service` can start it the same way. */
function upArgs(opts: UpFlags): string[] {
  return [
    ...(opts.listen !== undefined ? ['--listen', opts.listen] : []),
    // Also with --listen: a --listen without a port takes this one.
    '--broker-port',
    String(opts.brokerPort),
    ...(opts.advertise !== undefined ? ['--advertise', opts.advertise] : []),
    ...(opts.insecure === true ? ['--insecure'] : []),
    ...(opts.secure === true ? ['--secure'] : []),
    '--http-listen',
    opts.httpListen,
  ];
}

/** `<dataDir>/up.json`: this data dir is run by `admiral up` (broker + central), with these flags. */
function writeUpArgs(dataDir: string, args: readonly string[]): void {
  writeFileSync(join(dataDir, UP_FILE), `${JSON.stringify({ args }, null, 2)}\n`, { mode: 0o600 });
}

/** Tells local clients (`admiral ping`, `nodes`, …) how to reach a secured broker; removed otherwise. */
function writeLocalBroker(
  dataDir: string,
  creds: { url: string; nkeySeedFile: string; rootCa: string } | undefined,
): void {
  const file = join(dataDir, LOCAL_BROKER_FILE);
  if (creds === undefined) rmSync(file, { force: true });
  else writeFileSync(file, `${JSON.stringify(creds, null, 2)}\n`, { mode: 0o600 });
}
