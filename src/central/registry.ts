import { checkJsonText } from '../protocol/limits.js';
import type { RegistryState } from '../store/registry-state.js';
import type { ServiceEntry } from '../store/services.js';
import { EntryExistsError, EntryNotFoundError } from './errors.js';
import type { ListedService } from './wire.js';

// bpbroker's key/value service registry semantics (seed 000/001, "Service"):
// - register fails when the name exists; replace creates or overwrites; update merges a JSON
//   object into the existing object (or creates); get fails when the name is missing; delete
//   never fails.
// - Data that parses as a JSON object gets `last_write_ts` (Unix seconds) and `last_write_ip`
//   (the writer's address) first, then its own keys; any other data stays the string it was.
// Every write is durable (SQLite WAL, or a JetStream KV put) before the result is returned and
// acknowledged.

/** Who wrote, and when. */
export interface Writer {
  /** The writer's address as the broker saw it (see broker-services.md, "last_write_ip"). */
  readonly ip: string;
}

const META_KEYS: ReadonlySet<string> = new Set(['last_write_ts', 'last_write_ip']);

type JsonObject = Record<string, unknown>;

function asObject(data: string): JsonObject | undefined {
  if (!data.trimStart().startsWith('{')) return undefined;
  // An object is kept, merged and served parsed: past a limit it is refused (InputLimitError).
  checkJsonText(data, 'service data');
  try {
    const v: unknown = JSON.parse(data);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonObject) : undefined;
  } catch {
    return undefined;
  }
}

function withoutMeta(o: JsonObject): JsonObject {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !META_KEYS.has(k)));
}

/** The data of an entry as a client sees it: the string, or the parsed object. */
export function entryData(entry: ServiceEntry): unknown {
  return entry.isObject ? (JSON.parse(entry.value) as unknown) : entry.value;
}

export class Registry {
  constructor(
    readonly store: RegistryState,
    private readonly now: () => number = Date.now,
  ) {}

  #entry(name: string, data: string, writer: Writer, base?: JsonObject): ServiceEntry {
    const at = this.now();
    const obj = asObject(data);
    if (obj === undefined) return { name, value: data, isObject: false, updatedAt: at };
    const merged = {
      last_write_ts: Math.floor(at / 1000),
      last_write_ip: writer.ip,
      ...(base && withoutMeta(base)),
      ...withoutMeta(obj),
    };
    return { name, value: JSON.stringify(merged), isObject: true, updatedAt: at };
  }

  /** Creates `name`; throws `EntryExistsError` when it exists. */
  async register(name: string, data: string, writer: Writer): Promise<unknown> {
    const entry = this.#entry(name, data, writer);
    if (!(await this.store.insert(entry))) throw new EntryExistsError(name);
    return entryData(entry);
  }

  /** Creates or overwrites `name`. */
  async replace(name: string, data: string, writer: Writer): Promise<unknown> {
    const entry = this.#entry(name, data, writer);
    await this.store.put(entry);
    return entryData(entry);
  }

  /** Merges a JSON object into the existing object, or creates/overwrites like `replace`. */
  async update(name: string, data: string, writer: Writer): Promise<unknown> {
    const entry = await this.store.modify(name, (old) =>
      this.#entry(
        name,
        data,
        writer,
        old?.isObject ? (JSON.parse(old.value) as JsonObject) : undefined,
      ),
    );
    return entryData(entry);
  }

  /** The data of `name`; throws `EntryNotFoundError` when it is missing. */
  async get(name: string): Promise<unknown> {
    const entry = await this.store.get(name);
    if (entry === undefined) throw new EntryNotFoundError(name);
    return entryData(entry);
  }

  async has(name: string): Promise<boolean> {
    return (await this.store.get(name)) !== undefined;
  }

  /** Removes `name`, whether or not it existed. */
  async delete(name: string): Promise<void> {
    await this.store.delete(name);
  }

  async list(): Promise<ListedService[]> {
    return (await this.store.list()).map((e) => ({ name: e.name, data: entryData(e) }));
  }
}
