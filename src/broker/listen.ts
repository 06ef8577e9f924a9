import type { Server } from 'node:net';
import { BrokerListenError } from './errors.js';

/**
 * Opens `server` on `host`:`port`; throws BrokerListenError. `0.0.0.0` (every interface) is
 * listened on as nats-server does, which Go opens as a dual-stack socket: on `::` with IPv4
 * mapped, so a client that resolves `localhost` to ::1 first reaches it too (nats.js's tls
 * tests do). Where the machine has no IPv6, on 0.0.0.0 alone.
 */
export async function listen(server: Server, port: number, host: string): Promise<void> {
  if (host === '0.0.0.0') {
    try {
      await once(server, port, '::');
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') {
        throw new BrokerListenError(host, port, err);
      }
    }
  }
  try {
    await once(server, port, host);
  } catch (err) {
    throw new BrokerListenError(host, port, err);
  }
}

function once(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, ipv6Only: false }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
