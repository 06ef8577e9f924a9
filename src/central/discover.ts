import { createSocket } from 'node:dgram';
import { type DiscoveryReply, encodeRequest, newNonce, parseReply } from './discovery-protocol.js';
import { DiscoveryTimeoutError } from './errors.js';

// The client side of discovery (`admiral discover`): broadcasts a request for a registry name and
// takes the first reply that answers it, is correctly signed and (with trusted keys given) comes
// from a trusted key. The request is sent again twice within the timeout, as UDP may drop it.

export interface DiscoverOptions {
  readonly name: string;
  readonly port: number;
  /** Where the request goes: a broadcast address (default 255.255.255.255) or one host. */
  readonly broadcast: string;
  /** More addresses to ask at the same time (127.0.0.1: a local-mode central on this host). */
  readonly alsoAsk?: readonly string[];
  readonly timeoutMs: number;
  /** Accept replies signed by these keys only; empty: any correctly signed reply. */
  readonly trustedKeys?: readonly string[];
}

export interface Discovered extends DiscoveryReply {
  /** The responder's address as the reply packet came from it. */
  readonly address: string;
}

export function discover(options: DiscoverOptions): Promise<Discovered> {
  const req = { name: options.name, nonce: newNonce() };
  const packet = encodeRequest(req);
  const trusted =
    options.trustedKeys && options.trustedKeys.length > 0
      ? new Set(options.trustedKeys)
      : undefined;
  const socket = createSocket({ type: 'udp4' });
  return new Promise<Discovered>((resolve, reject) => {
    const timers: NodeJS.Timeout[] = [];
    let settled = false;
    const done = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      try {
        socket.close();
      } catch {
        // already closed
      }
      fn();
    };
    socket.on('message', (msg, rinfo) => {
      const reply = parseReply(msg, req, trusted);
      if (reply !== undefined) done(() => resolve({ ...reply, address: rinfo.address }));
    });
    socket.once('error', (err) => done(() => reject(err)));
    socket.bind(0, () => {
      socket.setBroadcast(true);
      const send = (): void => {
        for (const to of [options.broadcast, ...(options.alsoAsk ?? [])]) {
          socket.send(packet, options.port, to, (err) => {
            if (err) done(() => reject(err));
          });
        }
      };
      send();
      timers.push(setTimeout(send, options.timeoutMs / 4));
      timers.push(setTimeout(send, options.timeoutMs / 2));
      timers.push(
        setTimeout(
          () => done(() => reject(new DiscoveryTimeoutError(options.name, options.timeoutMs))),
          options.timeoutMs,
        ),
      );
    });
  });
}
