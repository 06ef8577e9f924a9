import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import type { Logger } from '../observability/logger.js';
import {
  ENROL_INBOX_PREFIX,
  ENROL_PASSWORD,
  ENROL_SERVICE,
  ENROL_USER,
  type EnrolReply,
  type EnrolRequestBody,
} from '../protocol/enrolment.js';
import type { FileTrustStore, Identity, Subjects } from '../protocol/index.js';
import { signRequest } from '../protocol/signed-request.js';
import { formatCreds } from '../protocol/creds.js';
import { type BrokerCredentials, connectToBroker } from './broker-connection.js';

// The joining side of enrolment (docs/security.md, "Joining a fleet"). Before anything is sent,
// the broker's TLS chain must contain a CA whose SHA-256 fingerprint is the one the operator was
// given; that CA is then the only root the node trusts for the broker. The node asks central to
// enrol it, as the public enrolment user, until it is accepted (pinning central's key) or
// rejected. From then on it connects with its identity key as its broker nkey; on nats-server
// in operator mode it asks with the fleet's public enrolment JWT (`--enrol-jwt`) and is given a
// user JWT for its key, kept with its seed in `<dataDir>/broker.creds`.

/** `--join` and `--ca-fingerprint`, resolved. */
export interface JoinOptions {
  readonly token?: string;
  /** SHA-256 of the fleet CA's DER: hex, with or without colons. */
  readonly caFingerprint: string;
  /** ms between enrolment requests while pending or unreachable. */
  readonly retryIntervalMs: number;
  /** The fleet's enrolment bearer JWT (nats-server in operator mode); none: the `enrol` user. */
  readonly enrolJwt?: string;
}

export class CaFingerprintMismatchError extends Error {
  override readonly name = 'CaFingerprintMismatchError';
  readonly code = 'ADMIRAL_CA_FINGERPRINT_MISMATCH';
  constructor(
    readonly url: string,
    readonly expected: string,
    readonly presented: readonly string[],
  ) {
    super(
      `the broker at ${url} presented no CA with SHA-256 fingerprint ${expected} (--ca-fingerprint); it presented ${presented.join(', ') || 'no certificate'}. Not joining: check the fingerprint that admiral up printed`,
    );
  }
}

export class JoinRejectedError extends Error {
  override readonly name = 'JoinRejectedError';
  readonly code = 'ADMIRAL_JOIN_REJECTED';
  constructor(
    readonly node: string,
    readonly reason: string,
  ) {
    super(`central refused to enrol node ${node}: ${reason}`);
  }
}

export class JoinError extends Error {
  override readonly name = 'JoinError';
  readonly code = 'ADMIRAL_JOIN';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Files a joined node keeps in its data dir. */
export const FLEET_CA_FILE = 'fleet-ca.pem';
export const JOINED_FILE = 'joined.json';
/** The user JWT central issued (operator mode) with the node's seed: its broker login. */
export const BROKER_CREDS_FILE = 'broker.creds';

interface JoinedState {
  readonly central: string;
  readonly centralKey: string;
  readonly joinedAt: number;
}

const normalize = (fp: string): string => fp.replace(/[:\s]/g, '').toLowerCase();

function firstServer(url: string): { host: string; port: number } {
  const first = url
    .split(',')[0]
    .trim()
    .replace(/^[a-z]+:\/\//i, '');
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(first);
  if (!m)
    throw new JoinError(`Expected a broker URL like tls://host:4222, got ${JSON.stringify(url)}`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 4222 };
}

/**
 * Reads the broker's certificate chain (INFO in plain text, then TLS, as nats-server) without
 * trusting it, and returns the PEM of the CA in it whose fingerprint is `fingerprint`, after
 * checking that it signed the server's certificate. Sends nothing but the TLS handshake.
 */
export function fetchPinnedCa(
  url: string,
  fingerprint: string,
  timeoutMs = 10_000,
): Promise<string> {
  const { host, port } = firstServer(url);
  const expected = normalize(fingerprint);
  return new Promise<string>((resolve, reject) => {
    const raw = net.connect(port, host);
    let secure: tls.TLSSocket | undefined;
    const timer = setTimeout(
      () => fail(new JoinError(`no TLS answer from ${url} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const done = (): void => {
      clearTimeout(timer);
      secure?.destroy();
      raw.destroy();
    };
    const fail = (err: Error): void => {
      done();
      reject(err);
    };
    raw.once('error', (err) =>
      fail(new JoinError(`cannot reach the broker at ${url}: ${err.message}`, { cause: err })),
    );
    let info = '';
    const onData = (d: Buffer): void => {
      info += d.toString('latin1');
      if (!info.includes('\r\n')) return;
      raw.off('data', onData);
      if (!/"tls_required"\s*:\s*true/.test(info)) {
        fail(
          new JoinError(
            `the broker at ${url} does not require TLS; a fleet to join is started with admiral up --listen`,
          ),
        );
        return;
      }
      raw.pause();
      secure = tls.connect({
        socket: raw,
        rejectUnauthorized: false,
        ...(net.isIP(host) === 0 && { servername: host }),
      });
      secure.once('error', (err) =>
        fail(new JoinError(`TLS with ${url} failed: ${err.message}`, { cause: err })),
      );
      secure.once('secureConnect', () => {
        const chain: X509Certificate[] = [];
        let c = (secure as tls.TLSSocket).getPeerCertificate(true);
        const seen = new Set<string>();
        while (c?.raw && !seen.has(c.fingerprint256)) {
          seen.add(c.fingerprint256);
          chain.push(new X509Certificate(c.raw));
          c = c.issuerCertificate;
        }
        const ca = chain.find((x) => normalize(x.fingerprint256) === expected);
        const leaf = chain[0];
        if (!ca || !leaf || (leaf !== ca && !(leaf.checkIssued(ca) && leaf.verify(ca.publicKey)))) {
          const presented = chain.filter((x) => x.ca).map((x) => normalize(x.fingerprint256));
          fail(new CaFingerprintMismatchError(url, expected, presented));
          return;
        }
        done();
        resolve(ca.toString());
      });
    };
    raw.on('data', onData);
  });
}

export interface JoinFleetOptions {
  readonly name: string;
  readonly dataDir: string;
  readonly central: string;
  readonly identity: Identity;
  readonly subjects: Subjects;
  readonly trust: FileTrustStore;
  readonly broker: BrokerCredentials;
  readonly join: JoinOptions;
  readonly log: Logger;
}

/**
 * The broker credentials of a joined node: its identity as nkey (or, in operator mode, the user
 * JWT central issued for it), the pinned fleet CA.
 */
function joinedCredentials(o: JoinFleetOptions): BrokerCredentials {
  const creds = join(o.dataDir, BROKER_CREDS_FILE);
  return {
    ...o.broker,
    ...(existsSync(creds)
      ? { credsFile: creds }
      : { nkeySeedFile: join(o.dataDir, 'identity.seed') }),
    rootCa: join(o.dataDir, FLEET_CA_FILE),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Enrols this node unless it already is (`<dataDir>/joined.json`), waiting while central says
 * pending; resolves with the credentials to connect with. Throws CaFingerprintMismatchError or
 * JoinRejectedError, which end the node's start.
 */
export async function joinFleet(o: JoinFleetOptions): Promise<BrokerCredentials> {
  const joinedFile = join(o.dataDir, JOINED_FILE);
  if (existsSync(joinedFile) && existsSync(join(o.dataDir, FLEET_CA_FILE))) {
    return joinedCredentials(o);
  }
  const caPem = await fetchPinnedCa(o.broker.url, o.join.caFingerprint);
  const caFile = join(o.dataDir, FLEET_CA_FILE);
  writeFileSync(caFile, caPem, { mode: 0o644 });
  const body: EnrolRequestBody = {
    name: o.name,
    ...(o.join.token !== undefined && { token: o.join.token }),
  };
  let lastReason = '';
  for (;;) {
    let reply: EnrolReply | undefined;
    try {
      const login =
        o.join.enrolJwt !== undefined
          ? { bearerJwt: o.join.enrolJwt }
          : { user: ENROL_USER, password: ENROL_PASSWORD };
      const nc = await connectToBroker(
        { url: o.broker.url, ...login, rootCa: caFile },
        { name: `admiral-join:${o.name}`, inboxPrefix: ENROL_INBOX_PREFIX },
      );
      try {
        const signed = signRequest(ENROL_SERVICE, body, o.identity);
        const msg = await nc.request(o.subjects.central(ENROL_SERVICE), JSON.stringify(signed), {
          timeout: 5000,
        });
        reply = JSON.parse(Buffer.from(msg.data).toString('utf8')) as EnrolReply;
      } finally {
        await nc.close().catch(() => undefined);
      }
    } catch (err) {
      const why = `central does not answer yet (${err instanceof Error ? err.message : String(err)})`;
      if (why !== lastReason) o.log('warn', 'cannot enrol yet, retrying', { reason: why });
      lastReason = why;
    }
    if (reply?.status === 'rejected') throw new JoinRejectedError(o.name, reply.reason);
    if (reply?.status === 'accepted') {
      if (reply.central.name !== o.central) {
        throw new JoinError(
          `the fleet's central is named ${reply.central.name}, but this node expects ${o.central}; start it with --central ${reply.central.name}`,
        );
      }
      o.trust.add(reply.central.publicKey, `central ${reply.central.name}`);
      if (reply.userJwt !== undefined) {
        writeFileSync(
          join(o.dataDir, BROKER_CREDS_FILE),
          formatCreds(reply.userJwt, o.identity.seed),
          { mode: 0o600 },
        );
      }
      const state: JoinedState = {
        central: reply.central.name,
        centralKey: reply.central.publicKey,
        joinedAt: Date.now(),
      };
      writeFileSync(joinedFile, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
      o.log('info', 'enrolled in the fleet', { central: state.central, key: state.centralKey });
      return joinedCredentials(o);
    }
    if (reply?.status === 'pending' && reply.reason !== lastReason) {
      o.log('warn', 'waiting to be accepted', { reason: reply.reason });
      lastReason = reply.reason;
    }
    if (reply?.status === 'busy' && reply.reason !== lastReason) {
      o.log('warn', 'central is busy with enrolments, retrying', { reason: reply.reason });
      lastReason = reply.reason;
    }
    await sleep(o.join.retryIntervalMs);
  }
}

/** Whether this data dir holds a joined node (for the CLI and tests). */
export function readJoined(dataDir: string): JoinedState | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, JOINED_FILE), 'utf8')) as JoinedState;
  } catch {
    return undefined;
  }
}
