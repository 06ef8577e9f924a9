import type { Bucket } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import * as z from 'zod';
import { isValidNodeName } from '../../protocol/index.js';
import type { InventoryRecord } from '../inventory.js';
import { bucketKeys, type JetStreamStateOptions, openBucket, whileLeaderless } from './buckets.js';

// The inventory shared by centrals (docs/operations.md, "Scaling out"): one KV key per node in
// `<prefix>_inventory` (`node.<name>`), written by the leading central when what it knows of a
// node changes in a way a successor needs (a new node, online or offline, its facts, version or
// key; its last-seen time at most every few minutes), deleted when an operator forgets the node.
// Every central hears the nodes' hello events itself; what this adds is the nodes a central has
// not heard since it started (offline ones, which `--all` and `--where` jobs still target: their
// messages wait for them). A record that does not parse is skipped.

const RecordSchema = z.strictObject({
  node: z.string(),
  publicKey: z.string(),
  central: z.boolean(),
  version: z.string(),
  online: z.boolean(),
  firstSeen: z.number(),
  lastSeen: z.number(),
  lastEvent: z.string(),
  helloMs: z.number(),
  facts: z.record(z.string(), z.unknown()),
});

export class SharedInventory {
  private constructor(readonly kv: Bucket) {}

  static async open(nc: NatsConnection, options: JetStreamStateOptions): Promise<SharedInventory> {
    return new SharedInventory(await openBucket(nc, 'inventory', options));
  }

  async put(rec: InventoryRecord): Promise<void> {
    await whileLeaderless(() => this.kv.put(`node.${rec.node}`, JSON.stringify(rec)));
  }

  async delete(node: string): Promise<void> {
    await whileLeaderless(() => this.kv.delete(`node.${node}`));
  }

  /** Every node record the bucket holds. */
  async all(): Promise<InventoryRecord[]> {
    const keys = await bucketKeys(this.kv, 'node.*');
    const entries = await Promise.all(keys.map((k) => whileLeaderless(() => this.kv.get(k))));
    return entries.flatMap((e) => {
      if (e === null || e.operation !== 'PUT') return [];
      const parsed = RecordSchema.safeParse(e.json());
      const node = e.key.slice('node.'.length);
      if (!parsed.success || parsed.data.node !== node || !isValidNodeName(node)) return [];
      return [parsed.data];
    });
  }
}

/** How stale the shared last-seen time of a node may get before it is written again, ms. */
export const LAST_SEEN_EVERY_MS = 5 * 60_000;

/** Whether `rec` differs from what was last shared of its node in a way a successor needs. */
export function worthSharing(shared: InventoryRecord | undefined, rec: InventoryRecord): boolean {
  if (shared === undefined) return true;
  return (
    shared.online !== rec.online ||
    shared.lastEvent !== rec.lastEvent ||
    shared.publicKey !== rec.publicKey ||
    shared.version !== rec.version ||
    shared.central !== rec.central ||
    shared.helloMs !== rec.helloMs ||
    JSON.stringify(shared.facts) !== JSON.stringify(rec.facts) ||
    rec.lastSeen - shared.lastSeen >= LAST_SEEN_EVERY_MS
  );
}
