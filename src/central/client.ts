import { RequestError, TimeoutError } from '@nats-io/transport-node';
import type { AdmiralClient } from '../client/connect.js';
import { reconnectDelay } from '../node/backoff.js';
import { CentralServiceError, CentralUnavailableError } from './errors.js';
import type { CentralReply } from './wire.js';

// The client half of the central's request/reply services: one request, one JSON reply, errors
// turned into what an operator reads (`Fatal error: Entry 'foo' not found`).

/**
 * The writer's address for `last_write_ip`: the client's address as the broker saw it (INFO's
 * client_ip, which nats-server and the embedded broker both send), as bpbroker took the HTTP
 * peer address. Empty when the broker does not say.
 */
export function clientAddress(client: AdmiralClient): string {
  return client.nc.info?.client_ip ?? '';
}

/** Sends `body` to `adm.central.<service>` and returns the result; throws the central's error. */
export async function requestCentral(
  client: AdmiralClient,
  service: string,
  body: Record<string, unknown>,
  timeoutMs: number,
): Promise<unknown> {
  const subject = client.subjects.central(service);
  const deadline = Date.now() + (client.centralWaitMs ?? 0);
  let data: Uint8Array;
  for (let failures = 0; ; failures++) {
    try {
      const msg = await client.nc.request(
        subject,
        JSON.stringify({ ...body, clientIp: clientAddress(client) }),
        { timeout: timeoutMs },
      );
      data = msg.data;
      break;
    } catch (err) {
      // No responders: the request reached nobody, so asking again cannot do anything twice.
      // A central that is restarting, or reconnecting after its broker did, answers soon.
      const left = deadline - Date.now();
      if (!noResponders(err) || left <= 0) {
        throw unavailable(err, subject, timeoutMs, client.centralWaitMs ?? 0);
      }
      const delay = Math.min(left, reconnectDelay(failures, NO_CENTRAL_SCHEDULE));
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  let reply: CentralReply;
  try {
    reply = JSON.parse(Buffer.from(data).toString('utf8')) as CentralReply;
  } catch (err) {
    throw new CentralUnavailableError(`the answer on ${subject} is not JSON`, subject, {
      cause: err,
    });
  }
  if (reply.ok) return reply.result;
  throw new CentralServiceError(reply.error, reply.code, subject);
}

/** Waits between requests while no central is there: 100 ms, growing to 500 ms. */
const NO_CENTRAL_SCHEDULE = { firstMs: 100, maxMs: 500, factor: 1.5, jitter: 0.2 } as const;

function noResponders(err: unknown): boolean {
  return err instanceof RequestError && err.isNoResponders();
}

function unavailable(
  err: unknown,
  subject: string,
  timeoutMs: number,
  waitedMs: number,
): CentralUnavailableError {
  if (noResponders(err)) {
    const waited = waitedMs > 0 ? ` for ${waitedMs / 1000} s` : '';
    return new CentralUnavailableError(
      `no central answers on ${subject} (no responders${waited}: is a central node connected to this broker?)`,
      subject,
      { cause: err },
    );
  }
  if (err instanceof TimeoutError || (err instanceof Error && err.cause instanceof TimeoutError)) {
    return new CentralUnavailableError(
      `timed out after ${timeoutMs / 1000} s waiting for the central on ${subject}`,
      subject,
      { cause: err },
    );
  }
  const text = err instanceof Error ? err.message : String(err);
  return new CentralUnavailableError(`request on ${subject} failed: ${text}`, subject, {
    cause: err,
  });
}
