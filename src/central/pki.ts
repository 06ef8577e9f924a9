import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

// The certificates `admiral up --listen` serves: a CA made once in `<dataDir>/tls/` and a server
// certificate signed by it whose subjectAltName covers every name a node may dial. The CA's
// SHA-256 fingerprint is what a joining node pins (`--ca-fingerprint`). Made with the `openssl`
// CLI: node:crypto verifies X.509 but cannot issue certificates.

const run = promisify(execFile);

export class PkiError extends Error {
  override readonly name = 'PkiError';
  readonly code = 'ADMIRAL_PKI';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface ServerPki {
  /** PEM of the CA certificate (also `caFile`). */
  readonly caPem: string;
  readonly caFile: string;
  /** PEM chain the broker serves: the server certificate, then the CA. */
  readonly certChainPem: string;
  readonly keyPem: string;
  /** SHA-256 of the CA certificate's DER, lower-case hex without separators. */
  readonly caFingerprint: string;
  /** Names and addresses the server certificate covers. */
  readonly names: readonly string[];
}

/** `AB:CD:…` or `abcd…` → `abcd…`; what `--ca-fingerprint` is compared as. */
export function normalizeFingerprint(value: string): string {
  return value.replace(/[:\s]/g, '').toLowerCase();
}

export function fingerprintOf(cert: X509Certificate): string {
  return normalizeFingerprint(cert.fingerprint256);
}

/** What the server certificate must cover for a listener on `host` advertised as `advertise`. */
export function serverNames(host: string, advertise?: string): string[] {
  const names = new Set<string>(['localhost', '127.0.0.1', '::1', hostname()]);
  if (advertise) names.add(advertise);
  if (host === '0.0.0.0' || host === '::') {
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) names.add(a.address.replace(/%.*$/, ''));
    }
  } else {
    names.add(host);
  }
  return [...names].filter((n) => n.length > 0).sort();
}

function covers(cert: X509Certificate, names: readonly string[]): boolean {
  return names.every((n) =>
    isIP(n) ? cert.checkIP(n) !== undefined : cert.checkHost(n) !== undefined,
  );
}

const DAY_MS = 86_400_000;

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  try {
    await run('openssl', args, { cwd });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new PkiError(
        'cannot make the TLS certificates: the `openssl` command is not installed (apt-get install openssl)',
        { cause: err },
      );
    }
    throw new PkiError(`openssl ${args[0]} failed: ${e.stderr?.trim() ?? e.message}`, {
      cause: err,
    });
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * Loads the CA and server certificate from `<dataDir>/tls/`, making what is missing: the CA
 * once (10 years), the server certificate (2 years) again when it no longer covers `names` or
 * expires within 30 days.
 */
export async function ensureServerPki(
  dataDir: string,
  names: readonly string[],
): Promise<ServerPki> {
  const dir = join(dataDir, 'tls');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const certFile = join(dir, 'server.pem');
  const keyFile = join(dir, 'server.key');
  if (!existsSync(caFile) || !existsSync(caKey)) {
    await openssl(
      [
        'req',
        '-x509',
        ...EC,
        '-keyout',
        'ca.key',
        '-out',
        'ca.pem',
        '-days',
        '3650',
        '-subj',
        `/CN=admiral fleet CA ${hostname()}`.slice(0, 64),
        '-addext',
        'basicConstraints=critical,CA:TRUE,pathlen:0',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
    rmSync(certFile, { force: true });
  }
  const ca = new X509Certificate(readFileSync(caFile));
  let reissue = !existsSync(certFile) || !existsSync(keyFile);
  if (!reissue) {
    const cert = new X509Certificate(readFileSync(certFile));
    reissue =
      !cert.checkIssued(ca) ||
      !covers(cert, names) ||
      Date.parse(cert.validTo) - Date.now() < 30 * DAY_MS;
  }
  if (reissue) {
    const san = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
    writeFileSync(
      join(dir, 'server.ext'),
      `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`,
    );
    await openssl(
      ['req', ...EC, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=admiral broker'],
      dir,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-set_serial',
        `0x${randomBytes(16).toString('hex')}`,
        '-days',
        '730',
        '-extfile',
        'server.ext',
        '-out',
        'server.pem',
      ],
      dir,
    );
    rmSync(join(dir, 'server.csr'), { force: true });
  }
  const caPem = readFileSync(caFile, 'utf8');
  return {
    caPem,
    caFile,
    certChainPem: `${readFileSync(certFile, 'utf8').trim()}\n${caPem.trim()}\n`,
    keyPem: readFileSync(keyFile, 'utf8'),
    caFingerprint: fingerprintOf(ca),
    names,
  };
}
