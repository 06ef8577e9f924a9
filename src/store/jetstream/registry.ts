import type { Bucket, KvEntry } from '@nats-io/kv';
import * as z from 'zod';
import type { RegistryState } from '../registry-state.js';
import type { ServiceEntry } from '../services.js';
import { bucketKeys, decodeKey, encodeKey, isWrongRevision, whileLeaderless } from './buckets.js';

// The service registry in a KV bucket, one key per name. `register` is a KV create (refused when
// the key has a live value), `update` a read then a write conditional on the revision read
// (compare-and-set), retried when another central wrote in between: no write is lost. Every call
// waits out a re-election of the bucket's stream (whileLeaderless) instead of failing during it.

const EntrySchema = z.strictObject({
  name: z.string().min(1),
  value: z.string(),
  isObject: z.boolean(),
  updatedAt: z.number().int().nonnegative(),
});

/** Compare-and-set attempts before `modify` gives up (each lost race means another write won). */
const MAX_CAS_ATTEMPTS = 50;

function decode(e: KvEntry | null): ServiceEntry | undefined {
  if (e === null || e.operation !== 'PUT') return undefined;
  const parsed = EntrySchema.safeParse(e.json());
  if (!parsed.success) throw new Error(`registry key ${e.key} holds no registry entry`);
  return parsed.data;
}

const encode = (entry: ServiceEntry): string => JSON.stringify(entry);

export class KvRegistryState implements RegistryState {
  constructor(readonly kv: Bucket) {}

  async get(name: string): Promise<ServiceEntry | undefined> {
    return decode(await this.#raw(encodeKey(name)));
  }

  async list(): Promise<ServiceEntry[]> {
    const names = (await bucketKeys(this.kv)).map(decodeKey);
    const entries = await Promise.all(names.sort().map((n) => this.get(n)));
    return entries.filter((e): e is ServiceEntry => e !== undefined);
  }

  async put(entry: ServiceEntry): Promise<void> {
    await whileLeaderless(() => this.kv.put(encodeKey(entry.name), encode(entry)));
  }

  async insert(entry: ServiceEntry): Promise<boolean> {
    const key = encodeKey(entry.name);
    const value = encode(entry);
    let attempts = 0;
    try {
      await whileLeaderless((attempt) => {
        attempts = attempt + 1;
        return this.kv.create(key, value);
      });
      return true;
    } catch (err) {
      if (!isWrongRevision(err)) throw err;
      // An attempt after an unanswered one may find that one's write: the very value, to the
      // millisecond of updatedAt, is this write, not another writer's.
      if (attempts > 1) return (await this.#raw(key))?.string() === value;
      return false;
    }
  }

  #raw(key: string): Promise<KvEntry | null> {
    return whileLeaderless(() => this.kv.get(key));
  }

  async modify(
    name: string,
    next: (current: ServiceEntry | undefined) => ServiceEntry,
  ): Promise<ServiceEntry> {
    const key = encodeKey(name);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const raw = await this.#raw(key);
      const entry = next(decode(raw));
      try {
        // Revision 0 means "no value yet"; a deleted key is written over its delete marker. An
        // attempt after an unanswered one that had landed fails on the revision: read again.
        await whileLeaderless(() =>
          raw === null
            ? this.kv.create(key, encode(entry))
            : this.kv.update(key, encode(entry), raw.revision),
        );
        return entry;
      } catch (err) {
        if (!isWrongRevision(err)) throw err;
      }
    }
    throw new Error(`registry entry ${name}: ${MAX_CAS_ATTEMPTS} concurrent writes won in a row`);
  }

  async delete(name: string): Promise<boolean> {
    const had = (await this.get(name)) !== undefined;
    await whileLeaderless(() => this.kv.delete(encodeKey(name)));
    return had;
  }

  async replaceAll(entries: readonly ServiceEntry[]): Promise<void> {
    const keep = new Set(entries.map((e) => e.name));
    for (const e of entries) await this.put(e);
    for (const old of await this.list()) if (!keep.has(old.name)) await this.delete(old.name);
  }
}
