import type { ServiceEntry } from './services.js';

// The seam between the service registry's rules (src/central/registry.ts) and where its entries
// live: one SQLite table on a single central (the default), or a JetStream KV bucket shared by
// several centrals. Every write has resolved once it is durable, and only then is it acknowledged.

/** Where the registry's entries are kept. */
export interface RegistryState {
  get(name: string): Promise<ServiceEntry | undefined>;
  /** Every entry, by name. */
  list(): Promise<ServiceEntry[]>;
  /** Inserts or overwrites. */
  put(entry: ServiceEntry): Promise<void>;
  /** Inserts unless the name exists; false when it did. */
  insert(entry: ServiceEntry): Promise<boolean>;
  /** Writes `next(current)` with no lost update between the read and the write; returns it. */
  modify(
    name: string,
    next: (current: ServiceEntry | undefined) => ServiceEntry,
  ): Promise<ServiceEntry>;
  /** False when there was nothing to delete. */
  delete(name: string): Promise<boolean>;
  /** Replaces every entry with `entries` (restore from a backup). */
  replaceAll(entries: readonly ServiceEntry[]): Promise<void>;
}
