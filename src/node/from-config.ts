import { isAbsolute, join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { NodeOptions } from './options.js';

/** Maps the validated configuration onto a node's options; relative paths resolve from the cwd. */
export function nodeOptionsFromConfig(config: Config, log: Logger): NodeOptions {
  if (config.nodeName === undefined) {
    throw new Error('a node needs a name: give --name NAME (or nodeName in its config file)');
  }
  if (config.join.token !== undefined && config.join.caFingerprint === undefined) {
    throw new Error(
      'a join token needs the fleet CA fingerprint: give --ca-fingerprint SHA256 as admiral up --listen printed it',
    );
  }
  const dataDir = resolve(config.dataDir);
  const inData = (p: string): string => (isAbsolute(p) ? p : join(dataDir, p));
  const m = config.messages;
  const broker = config.broker;
  return {
    name: config.nodeName,
    dataDir,
    broker: {
      url: broker.url,
      ...(broker.nkeySeedFile !== undefined && { nkeySeedFile: broker.nkeySeedFile }),
      ...(broker.credsFile !== undefined && { credsFile: broker.credsFile }),
      ...(broker.token !== undefined && { token: broker.token }),
      ...(broker.user !== undefined && { user: broker.user }),
      ...(broker.password !== undefined && { password: broker.password }),
      ...(broker.rootCa !== undefined && { rootCa: broker.rootCa }),
      ...(broker.clientCert !== undefined && { clientCert: broker.clientCert }),
      ...(broker.clientKey !== undefined && { clientKey: broker.clientKey }),
    },
    central: config.centralNode,
    isCentral: config.isCentral,
    // Centrals sharing state take messages only while they lead (central/leadership.ts).
    ...(config.isCentral &&
      config.central.state.backend === 'jetstream' && { deferReceiving: true }),
    subjectPrefix: config.subjectPrefix,
    compression: config.compression,
    helloIntervalMs: config.helloInterval * 1000,
    defaults: {
      ACKTimeout: m.ackTimeout,
      retries: m.retries,
      replyACKTimeout: m.replyAckTimeout,
      replyRetries: m.replyRetries,
      methodTimeout: m.methodTimeout,
      replyMethodTimeout: m.replyMethodTimeout,
      ttl: m.ttl,
    },
    backoff: {
      baseMs: config.retry.baseMs,
      maxMs: config.retry.maxMs,
      jitter: config.retry.jitter,
    },
    maxClockSkewMs: config.trust.maxClockSkew * 1000,
    maxTtlMs: m.maxTtl * 1000,
    limits: {
      maxOutputBytes: config.limits.maxOutputBytes,
      // File-reading methods read under the data dir by default, and wherever the config allows.
      readAllow: [dataDir, ...config.paths.readAllow.map((p) => resolve(p))],
      statePaths: statePaths(config, inData),
    },
    maxConcurrent: 64,
    inputs: {
      socket: config.inputs.socket,
      ...(config.inputs.tcpListen !== undefined && { tcpListen: config.inputs.tcpListen }),
      ...(config.inputs.httpListen !== undefined && { httpListen: config.inputs.httpListen }),
      ...(config.inputs.watchFolder !== undefined && {
        watchFolder: inData(config.inputs.watchFolder),
      }),
    },
    ...(config.central.http.token !== undefined && { httpToken: config.central.http.token }),
    ...(config.metricsListen !== undefined && { metricsListen: config.metricsListen }),
    ...(config.statusFile.interval > 0 && {
      statusFile: {
        path: config.statusFile.path ?? join(dataDir, 'status.json'),
        intervalMs: config.statusFile.interval * 1000,
      },
    }),
    // A node joining a remote fleet pins the central's key at enrolment, never on first use.
    trustCentralOnFirstUse: config.join.caFingerprint === undefined,
    ...(config.join.caFingerprint !== undefined && {
      join: {
        caFingerprint: config.join.caFingerprint,
        retryIntervalMs: config.join.retryInterval * 1000,
        ...(config.join.token !== undefined && { token: config.join.token }),
        ...(config.join.enrolJwt !== undefined && { enrolJwt: config.join.enrolJwt }),
      },
    }),
    store: {
      synchronous: config.store.synchronous,
      busyTimeoutMs: config.store.busyTimeoutMs,
      auditFsync: config.store.auditFsync,
      inboxKeepAfterExpiryMs: config.store.inboxKeepAfterExpiry * 1000,
    },
    trustedKeys: config.trust.keys,
    connect: {
      timeoutMs: broker.connectTimeout * 1000,
      reconnectWaitMs: broker.reconnectWait * 1000,
      reconnectJitterMs: broker.reconnectJitterMs,
      reconnectJitterTlsMs: broker.reconnectJitterTlsMs,
    },
    log,
  };
}

/**
 * The node's own files and folders that its config may place anywhere: no method writes there
 * (methods/safe-path.ts also keeps the data dir's reserved names). A watched input folder is one:
 * a file written there would be taken as a message signed by this node.
 */
function statePaths(config: Config, inData: (p: string) => string): string[] {
  const c = config.central;
  const b = config.broker;
  return [
    config.inputs.watchFolder,
    config.statusFile.path,
    config.factsDir,
    c.registry.backupDir,
    c.extensions.dir,
    b.nkeySeedFile,
    b.credsFile,
    c.enrol.natsOperatorDir,
    b.rootCa,
    b.clientCert,
    b.clientKey,
  ].flatMap((p) => (p === undefined ? [] : [inData(p)]));
}
