// The WebSocket listener (nats-server's `websocket { port, no_tls }`, server/websocket.go): each
// WebSocket connection carries the NATS client protocol in binary frames, so it is turned into a
// Duplex (ws's createWebSocketStream) and served by the same connection code as a TCP client.

import http from 'node:http';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { ConnectionMeta } from './client.js';
import { BrokerListenError } from './errors.js';
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
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new BrokerListenError(host, ws.port, err));
    server.once('error', onError);
    server.listen(ws.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
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
