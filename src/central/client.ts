import { RequestError, TimeoutError } from '@nats-io/transport-node';
import type { AdmiralClient } from '../client/connect.js';
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
  let data: Uint8Array;
  try {
    const msg = await client.nc.request(
      subject,
      JSON.stringify({ ...body, clientIp: clientAddress(client) }),
      { timeout: timeoutMs },
    );
    data = msg.data;
  } catch (err) {
    throw unavailable(err, subject, timeoutMs);
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

function unavailable(err: unknown, subject: string, timeoutMs: number): CentralUnavailableError {
  if (err instanceof RequestError && err.isNoResponders()) {
    return new CentralUnavailableError(
      `no central answers on ${subject} (no responders: is a central node connected to this broker?)`,
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
