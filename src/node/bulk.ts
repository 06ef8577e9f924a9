// The node's BulkTransport: plain NATS request/reply on `<prefix>.bulk.<node>.<transfer>`, for
// bytes that must not travel as durable messages (copy chunks). Nothing here is signed, stored or
// audited; the method that uses it authenticates its own payloads.

import type { NatsConnection } from '@nats-io/transport-node';
import type { BulkTransport } from '../methods/types.js';
import type { Logger } from '../observability/logger.js';
import type { Subjects } from '../protocol/index.js';

/** NATS's default max_payload (1 MiB), used while no server INFO is known. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

class BrokerUnavailableError extends Error {
  override readonly name = 'BrokerUnavailableError';
  readonly code = 'ADMIRAL_BROKER_UNAVAILABLE';
  readonly subject: string;
  constructor(subject: string) {
    super(`not connected to the broker: cannot request ${subject}`);
    this.subject = subject;
  }
}

export function createBulkTransport(
  connection: () => NatsConnection | undefined,
  subjects: Subjects,
  log: Logger,
): BulkTransport {
  return {
    maxPayload: () => connection()?.info?.max_payload ?? DEFAULT_MAX_PAYLOAD,
    subject: (node, transferId) => subjects.bulk(node, transferId),
    serve(subject, handler) {
      const nc = connection();
      if (!nc || nc.isClosed()) throw new BrokerUnavailableError(subject);
      const sub = nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          handler(msg.data).then(
            (answer) => msg.respond(answer),
            (e: unknown) => log('warn', 'bulk request failed', { subject, error: String(e) }),
          );
        },
      });
      return { close: () => sub.unsubscribe() };
    },
    async request(subject, data, timeoutMs) {
      const nc = connection();
      if (!nc || nc.isClosed()) throw new BrokerUnavailableError(subject);
      const reply = await nc.request(subject, data, { timeout: timeoutMs });
      return reply.data;
    },
  };
}
