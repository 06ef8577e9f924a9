import type { NatsConnection } from '@nats-io/transport-node';
import {
  INVENTORY_SERVICE,
  type InventoryQuery,
  type InventoryReply,
} from '../central/inventory.js';
import type { Identity, Subjects } from '../protocol/index.js';
import { signRequest } from '../protocol/signed-request.js';
import type { InventoryRecord } from '../store/inventory.js';
import type { Target } from './target.js';

// The client side of `adm.central.inventory`: what `admiral nodes`, `ping` and `run` ask central.
// Every query is signed with the client's identity; central answers keys it trusts.

/** The central did not answer, or refused the query. */
export class InventoryQueryError extends Error {
  override readonly name = 'InventoryQueryError';
  readonly code = 'ADMIRAL_INVENTORY_QUERY';
}

export interface QueryInventoryOptions {
  /** Signs the query: central's own identity, or one in its trust store. */
  readonly identity: Identity;
  readonly target?: Target;
  readonly onlineOnly?: boolean;
  /** ms per request; default 5000. */
  readonly timeoutMs?: number;
}

async function ask(
  nc: NatsConnection,
  subjects: Subjects,
  identity: Identity,
  q: InventoryQuery,
  timeoutMs: number,
): Promise<InventoryReply & { ok: true }> {
  let reply: InventoryReply;
  try {
    const signed = signRequest(INVENTORY_SERVICE, q, identity);
    const msg = await nc.request(subjects.central(INVENTORY_SERVICE), JSON.stringify(signed), {
      timeout: timeoutMs,
    });
    reply = JSON.parse(Buffer.from(msg.data).toString('utf8')) as InventoryReply;
  } catch (err) {
    throw new InventoryQueryError(
      `the central's inventory (${subjects.central(INVENTORY_SERVICE)}) did not answer: ${
        err instanceof Error ? err.message : String(err)
      }`,
      { cause: err },
    );
  }
  if (!reply.ok) throw new InventoryQueryError(reply.error);
  return reply;
}

/** Removes a node that is offline for good from central's inventory (`admiral nodes forget`). */
export async function forgetNode(
  nc: NatsConnection,
  subjects: Subjects,
  identity: Identity,
  node: string,
  timeoutMs = 5000,
): Promise<void> {
  await ask(nc, subjects, identity, { forget: node }, timeoutMs);
}

/** Every inventory record the target selects (all pages), sorted by node name. */
export async function queryInventory(
  nc: NatsConnection,
  subjects: Subjects,
  options: QueryInventoryOptions,
): Promise<InventoryRecord[]> {
  const out: InventoryRecord[] = [];
  let offset: number | undefined = 0;
  while (offset !== undefined) {
    const reply: InventoryReply & { ok: true } = await ask(
      nc,
      subjects,
      options.identity,
      {
        ...(options.target !== undefined && { target: options.target }),
        ...(options.onlineOnly === true && { onlineOnly: true }),
        offset,
      },
      options.timeoutMs ?? 5000,
    );
    out.push(...(reply.nodes ?? []));
    offset = reply.next;
  }
  return out;
}

/** The names of the nodes the target selects, sorted. */
export async function inventoryNames(
  nc: NatsConnection,
  subjects: Subjects,
  options: QueryInventoryOptions,
): Promise<string[]> {
  const reply = await ask(
    nc,
    subjects,
    options.identity,
    {
      ...(options.target !== undefined && { target: options.target }),
      ...(options.onlineOnly === true && { onlineOnly: true }),
      namesOnly: true,
    },
    options.timeoutMs ?? 5000,
  );
  return [...(reply.names ?? [])];
}
