import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/** A UDP port that was free a moment ago (bound to 0, then released). */
export function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  return new Promise((resolve) =>
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    }),
  );
}

/**
 * A TCP port on 127.0.0.1 where nothing listens (bound to 0, then released): for a refused
 * connection, or for a server that must come back on the same port after a restart.
 */
export function closedTcpPort(): Promise<number> {
  const s = createServer();
  return new Promise((resolve) =>
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      s.close(() => resolve(port));
    }),
  );
}
