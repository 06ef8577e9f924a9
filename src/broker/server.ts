// The network listener: the only file that imports node:net and node:tls. TLS works as in
// nats-server 2.9 (server.go createClient): INFO goes out in plain text with tls_required, then
// the client starts the TLS handshake on the same socket.

import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { ConnectionMeta } from './client.js';
import { BrokerConfigError } from './errors.js';
import { listen as openListener } from './listen.js';
import type { BrokerOptions } from './options.js';

/** Greeting prepared for a new connection before it is attached to the broker. */
export interface Greeting {
  cid: number;
  nonce: string | undefined;
  info: string;
}

/** What the listener needs from the broker. */
export interface StreamAcceptor {
  /** Allocates a client id and builds its INFO line. */
  prepare(meta: ConnectionMeta): Greeting;
  /** The INFO + -ERR bytes for a connection refused because the broker is full, or null. */
  refusal(greeting: Greeting): string | null;
  /** Serves the client on `stream`; `infoSent` when INFO already went out before TLS. */
  attach(stream: Duplex, meta: ConnectionMeta, greeting: Greeting, infoSent: boolean): void;
  log(
    level: 'debug' | 'info' | 'warn' | 'error',
    msg: string,
    fields?: Record<string, unknown>,
  ): void;
}

export interface Listener {
  readonly port: number;
  /** Stops accepting and aborts TLS handshakes still in progress. */
  close(): Promise<void>;
}

function secureContext(options: BrokerOptions): tls.SecureContext | null {
  const t = options.tls;
  if (!t) return null;
  try {
    return tls.createSecureContext({ cert: t.cert, key: t.key, ca: t.ca });
  } catch (err) {
    throw new BrokerConfigError(
      `Expected \`tls.cert\`, \`tls.key\` and \`tls.ca\` to be PEM text that node:tls accepts: ${err instanceof Error ? err.message : String(err)}`,
      'tls',
      { cause: err },
    );
  }
}

export async function listen(options: BrokerOptions, acceptor: StreamAcceptor): Promise<Listener> {
  const ctx = secureContext(options);
  const verify = options.tls?.verify ?? false;
  const handshakeMs = Math.round((options.tls?.timeout ?? 2) * 1000);
  const handshaking = new Set<net.Socket>();

  const server = net.createServer({ noDelay: true }, (raw) => {
    const meta: ConnectionMeta = {
      remoteAddress: raw.remoteAddress,
      remotePort: raw.remotePort,
      tls: ctx !== null,
    };
    raw.on('error', (err) => acceptor.log('debug', 'socket error', { error: err.message }));
    const greeting = acceptor.prepare(meta);
    if (!ctx) {
      acceptor.attach(raw, meta, greeting, false);
      return;
    }
    const refusal = acceptor.refusal(greeting);
    if (refusal !== null) {
      raw.end(refusal);
      return;
    }
    raw.write(greeting.info);
    if (!options.allowNonTls) {
      startTls(raw, meta, greeting);
      return;
    }
    // server.go createClient with allow_non_tls: a first byte of 0x16 (a TLS record) starts the
    // handshake; anything else, or nothing within the TLS timeout, is a plain-text client.
    const timer = setTimeout(() => choose(undefined), handshakeMs);
    timer.unref();
    const choose = (first: Buffer | undefined): void => {
      clearTimeout(timer);
      raw.off('data', choose);
      raw.pause();
      if (first !== undefined) raw.unshift(first);
      if (first?.[0] === 0x16) {
        startTls(raw, meta, greeting);
        return;
      }
      acceptor.attach(raw, { ...meta, tls: false }, greeting, true);
      raw.resume();
    };
    raw.on('data', choose);
  });

  function startTls(raw: net.Socket, meta: ConnectionMeta, greeting: Greeting): void {
    handshaking.add(raw);
    // Wrap before any data is read so the client's ClientHello reaches the TLS layer.
    const secure = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: ctx!,
      requestCert: verify,
      rejectUnauthorized: verify,
    });
    const timer = setTimeout(() => {
      acceptor.log('debug', 'TLS handshake timeout', { cid: greeting.cid });
      secure.destroy();
      raw.destroy();
    }, handshakeMs);
    timer.unref();
    const onError = (err: Error): void => {
      clearTimeout(timer);
      handshaking.delete(raw);
      acceptor.log('debug', 'TLS handshake failed', { cid: greeting.cid, error: err.message });
      secure.destroy();
      raw.destroy();
    };
    secure.once('error', onError);
    secure.once('secure', () => {
      clearTimeout(timer);
      handshaking.delete(raw);
      secure.off('error', onError);
      acceptor.attach(secure, meta, greeting, true);
    });
  }

  await openListener(server, options.port, options.host);
  server.on('error', (err) => acceptor.log('error', 'listener error', { error: err.message }));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : options.port;

  let closed: Promise<void> | null = null;
  return {
    port,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        for (const s of handshaking) s.destroy();
        handshaking.clear();
        // server.close waits for live sockets; the broker closes those itself.
        server.close(() => resolve());
      })),
  };
}
