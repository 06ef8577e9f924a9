// The WebSocket listener (nats-server's `websocket { port, no_tls }`, server/websocket.go): each
// WebSocket connection carries the NATS client protocol in binary frames, so it is turned into a
// Duplex (ws's createWebSocketStream) and served by the same connection code as a TCP client.

import http from 'node:http';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { ConnectionMeta } from './client.js';
import { listen } from './listen.js';
import type { BrokerOptions } from './options.js';
import type { StreamAcceptor } from './server.js';

export interface WebSocketListener {
  readonly host: string;
  readonly port: number;
  /** Stops accepting; open WebSocket clients are closed by the broker like any other. */
  close(): Promise<void>;
}

export async function listenWebSocket(
  options: BrokerOptions,
  acceptor: StreamAcceptor,
): Promise<WebSocketListener> {
  const ws = options.websocket!;
  const host = ws.host ?? options.host;
  const server = http.createServer((_req, res) => {
    // A plain HTTP request is not a WebSocket upgrade (websocket.go wsUpgrade: 400 or 405).
    res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Method Not Allowed\n');
  });
  const wss = new WebSocketServer({
    server,
    verifyClient: (info, done) => {
      const why = originProblem(info.req, ws);
      if (why === null) return done(true);
      acceptor.log('warn', 'websocket upgrade refused', {
        origin: info.origin,
        reason: why,
        ip: info.req.socket.remoteAddress,
      });
      done(false, 403, `Forbidden: ${why}`);
    },
    perMessageDeflate: ws.compression,
    // As nats-server's: the protocol caps a message by max_payload; allow the control line too.
    maxPayload: options.maxPayload + options.maxControlLine + 1024,
  });
  const handshakeMs = Math.round(ws.handshakeTimeout * 1000);
  server.on('connection', (socket) => {
    // Only until the upgrade is done; ws takes the socket over afterwards.
    socket.setTimeout(handshakeMs, () => socket.destroy());
  });
  wss.on('connection', (socket, req) => {
    req.socket.setTimeout(0);
    const meta: ConnectionMeta = {
      remoteAddress: req.socket.remoteAddress,
      remotePort: req.socket.remotePort,
      tls: false,
      transport: 'websocket',
    };
    const stream: Duplex = createWebSocketStream(socket);
    stream.on('error', (err) => acceptor.log('debug', 'websocket error', { error: err.message }));
    const greeting = acceptor.prepare(meta);
    acceptor.attach(stream, meta, greeting, false);
  });
  wss.on('error', (err) =>
    acceptor.log('error', 'websocket listener error', { error: err.message }),
  );
  await listen(server, ws.port, host);
  server.on('error', (err) =>
    acceptor.log('error', 'websocket listener error', { error: err.message }),
  );
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : ws.port;
  let closed: Promise<void> | null = null;
  return {
    host,
    port,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

/** `scheme`, host and port of a URL or Host header; the port defaults by scheme. */
function hostPort(scheme: string, host: string): { host: string; port: string } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(host);
  const h = (m?.[1] ?? host).toLowerCase();
  const port = m?.[2] || (scheme === 'https:' || scheme === 'wss:' ? '443' : '80');
  return { host: h, port };
}

/** websocket.go checkOrigin: null when allowed, else why not. No Origin header: not a browser. */
function originProblem(
  req: http.IncomingMessage,
  ws: NonNullable<BrokerOptions['websocket']>,
): string | null {
  if (!ws.sameOrigin && ws.allowedOrigins.length === 0) return null;
  const origin = req.headers.origin ?? req.headers['sec-websocket-origin'];
  if (origin === undefined || origin === '') return null;
  let u: URL;
  try {
    u = new URL(String(origin));
  } catch {
    return `malformed origin ${JSON.stringify(origin)}`;
  }
  const o = hostPort(u.protocol, u.host);
  if (ws.sameOrigin) {
    const r = hostPort('http:', req.headers.host ?? '');
    if (o.host !== r.host || o.port !== r.port) return 'not same origin';
  }
  if (ws.allowedOrigins.length > 0) {
    const ok = ws.allowedOrigins.some((a) => {
      const au = new URL(a);
      const ah = hostPort(au.protocol, au.host);
      return au.protocol === u.protocol && ah.host === o.host && ah.port === o.port;
    });
    if (!ok) return 'not in the allowed list';
  }
  return null;
}
