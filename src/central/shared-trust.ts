import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bucket } from '@nats-io/kv';
import type { NodeContext, NodeExtension } from '../node/extension.js';
import type { Logger } from '../observability/logger.js';
import { FileTrustStore, type Identity, isPublicKey } from '../protocol/index.js';
import { seal, unseal } from '../store/jetstream/sealed.js';
import {
  bucketKeys,
  type JetStreamStateOptions,
  openBucket,
  whileLeaderless,
} from '../store/jetstream/buckets.js';

// The operator keys central trusts (`<dataDir>/trust.json`, `admiral trust add|remove`) shared by
// the centrals of a group on JetStream (docs/operations.md, "Scaling out"): one KV key per trusted
// key in `<prefix>_trust` (`key.<public key>`), whose value says whether it is trusted (a removal
// is a value too, not a delete), since when, and is signed by the centrals' shared key. Every
// central, every SYNC_MS: what changed in its own file since it last looked goes to the bucket,
// then the bucket's newest word on each key goes into its file. A value not signed by the
// centrals' key, or older than one this central already took, is ignored: someone else allowed
// the JetStream API can neither add an operator key nor bring back one removed. What was last
// synced is kept in `<dataDir>/trust-shared.json`, so a central that was down while a key was
// removed elsewhere removes it when it starts, instead of bringing it back.

const SYNC_MS = 2000;

/** Where the last sync is kept, in the data dir. */
export const SNAPSHOT_FILE = 'trust-shared.json';

export interface SharedTrustOptions extends JetStreamStateOptions {
  /** ms between two looks; default 2000. */
  readonly syncMs?: number;
}

/** One key's shared state, as stored (without its signature). */
interface Entry {
  readonly trusted: boolean;
  /** ms; a newer word on the key replaces an older one. */
  readonly at: number;
  readonly label?: string;
}

/** The entry's value, sealed by `identity` (store/jetstream/sealed.ts). */
export function sealEntry(bucket: string, key: string, e: Entry, identity: Identity): string {
  return seal(bucket, key, JSON.stringify(e), identity);
}

/** The entry a value holds, if `signer` sealed it for this key; else undefined. */
function openEntry(bucket: string, key: string, raw: string, signer: string): Entry | undefined {
  const text = unseal(bucket, key, raw, signer);
  if (text === undefined) return undefined;
  let v: { trusted?: unknown; at?: unknown; label?: unknown };
  try {
    v = JSON.parse(text) as typeof v;
  } catch {
    return undefined;
  }
  if (typeof v.trusted !== 'boolean' || typeof v.at !== 'number') return undefined;
  if (v.label !== undefined && typeof v.label !== 'string') return undefined;
  return { trusted: v.trusted, at: v.at, ...(typeof v.label === 'string' && { label: v.label }) };
}

export class SharedTrust implements NodeExtension {
  readonly name = 'shared-trust';
  readonly #options: SharedTrustOptions;
  #timer: NodeJS.Timeout | undefined;
  #kv: Bucket | undefined;
  #store: FileTrustStore | undefined;
  #identity: Identity | undefined;
  #log: Logger = () => undefined;
  /** The keys of the file as last synced (what "changed since" is measured against). */
  #file = new Set<string>();
  /** The newest entry time taken for each key. */
  #seen = new Map<string, number>();
  #busy = false;
  #snapshotPath = '';
  /** Keys whose bucket value was refused, not to log them again at every look. */
  readonly #refused = new Set<string>();

  constructor(options: SharedTrustOptions) {
    this.#options = options;
  }

  async start(ctx: NodeContext): Promise<void> {
    this.#kv = await openBucket(ctx.nc, 'trust', this.#options);
    this.#store = new FileTrustStore(join(ctx.options.dataDir, 'trust.json'));
    this.#identity = ctx.identity;
    this.#log = ctx.options.log;
    this.#snapshotPath = join(ctx.options.dataDir, SNAPSHOT_FILE);
    this.#load();
    const log = ctx.options.log;
    const tick = (): void => {
      if (this.#busy) return;
      this.#busy = true;
      this.sync()
        .catch((err: unknown) =>
          log('warn', 'cannot share the trust store through JetStream', { error: String(err) }),
        )
        .finally(() => {
          this.#busy = false;
        });
    };
    // The first look brings this central's keys to the bucket (on a first start all are new).
    await this.sync().catch((err: unknown) =>
      log('warn', 'cannot share the trust store through JetStream', { error: String(err) }),
    );
    this.#timer = setInterval(tick, this.#options.syncMs ?? SYNC_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
  }

  /** One look both ways (see the file's comment). */
  async sync(): Promise<void> {
    const kv = this.#kv;
    const store = this.#store;
    const identity = this.#identity;
    if (kv === undefined || store === undefined || identity === undefined) return;
    const bucket = kv.bucket;
    const local = new Map(store.list().map((k) => [k.publicKey, k]));
    // This file's changes since the last look, each newer than anything seen for its key.
    const put = async (key: string, trusted: boolean, label?: string): Promise<void> => {
      const at = Math.max(Date.now(), (this.#seen.get(key) ?? 0) + 1);
      const e: Entry = { trusted, at, ...(label !== undefined && { label }) };
      await whileLeaderless(() =>
        kv.put(`key.${key}`, sealEntry(bucket, `key.${key}`, e, identity)),
      );
      this.#seen.set(key, at);
    };
    for (const [key, k] of local) if (!this.#file.has(key)) await put(key, true, k.label);
    for (const key of this.#file) if (!local.has(key)) await put(key, false);
    // The bucket's newest word on each key, into the file.
    for (const k of await bucketKeys(kv, 'key.*')) {
      const key = k.slice('key.'.length);
      if (!isPublicKey(key)) continue;
      const raw = await whileLeaderless(() => kv.get(k));
      if (raw === null || raw.operation !== 'PUT') continue;
      const e = openEntry(bucket, k, raw.string(), identity.publicKey);
      if (e === undefined) {
        if (!this.#refused.has(key)) {
          this.#refused.add(key);
          this.#log('warn', 'shared trust: a value not signed by the central key is ignored', {
            key,
          });
        }
        continue;
      }
      this.#refused.delete(key);
      if (e.at <= (this.#seen.get(key) ?? -1)) continue; // taken already, or older
      this.#seen.set(key, e.at);
      if (e.trusted && !local.has(key)) {
        store.add(key, e.label);
        local.set(key, { publicKey: key, addedAt: Date.now() });
      } else if (!e.trusted && local.has(key)) {
        store.remove(key);
        local.delete(key);
      }
    }
    this.#file = new Set(local.keys());
    this.#save();
  }

  /** What the last run synced (none on a first start: every key of the file is then new). */
  #load(): void {
    try {
      const snap = JSON.parse(readFileSync(this.#snapshotPath, 'utf8')) as {
        file?: unknown;
        seen?: unknown;
      };
      if (Array.isArray(snap.file)) {
        this.#file = new Set(snap.file.filter((k): k is string => isPublicKey(k)));
      }
      if (typeof snap.seen === 'object' && snap.seen !== null) {
        for (const [k, at] of Object.entries(snap.seen)) {
          if (isPublicKey(k) && typeof at === 'number') this.#seen.set(k, at);
        }
      }
    } catch {
      // No snapshot (a first start) or an unreadable one: nothing was synced.
    }
  }

  #save(): void {
    const body = {
      version: 1,
      file: [...this.#file].sort(),
      seen: Object.fromEntries([...this.#seen].sort(([a], [b]) => (a < b ? -1 : 1))),
    };
    const tmp = `${this.#snapshotPath}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.#snapshotPath);
  }
}
