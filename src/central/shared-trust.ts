import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bucket } from '@nats-io/kv';
import type { NodeContext, NodeExtension } from '../node/extension.js';
import { FileTrustStore, isPublicKey, type TrustedKey } from '../protocol/index.js';
import {
  bucketKeys,
  type JetStreamStateOptions,
  openBucket,
  whileLeaderless,
} from '../store/jetstream/buckets.js';

// The operator keys central trusts (`<dataDir>/trust.json`, `admiral trust add|remove`) shared by
// the centrals of a group on JetStream (docs/operations.md, "Scaling out"): one KV key per trusted
// key in `<prefix>_trust` (`key.<public key>`). Every central, every SYNC_MS: what changed in its
// own file since it last looked goes to the bucket (added keys put, removed keys deleted), and what
// the bucket has that its file lacks, or lost since, goes into its file. So `admiral trust add` on
// one central's machine reaches the others within seconds, and a removal as well. The bucket is
// written by centrals and operators only: nodes have no permission on $KV (protocol/enrolment.ts).
// What was last synced is kept in `<dataDir>/trust-shared.json`, so a central that was down while
// a key was removed elsewhere removes it when it starts, instead of bringing it back.

const SYNC_MS = 2000;

export interface SharedTrustOptions extends JetStreamStateOptions {
  /** ms between two looks; default 2000. */
  readonly syncMs?: number;
}

export class SharedTrust implements NodeExtension {
  readonly name = 'shared-trust';
  readonly #options: SharedTrustOptions;
  #timer: NodeJS.Timeout | undefined;
  #kv: Bucket | undefined;
  #store: FileTrustStore | undefined;
  /** The keys of the file as last synced (what "changed since" is measured against). */
  #file = new Map<string, TrustedKey>();
  /** The keys of the bucket as last synced. */
  #bucket = new Set<string>();
  #busy = false;
  #snapshotPath = '';

  constructor(options: SharedTrustOptions) {
    this.#options = options;
  }

  async start(ctx: NodeContext): Promise<void> {
    this.#kv = await openBucket(ctx.nc, 'trust', this.#options);
    this.#store = new FileTrustStore(join(ctx.options.dataDir, 'trust.json'));
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
    // The first look brings this central's keys to the bucket (nothing synced yet: all are new).
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
    if (kv === undefined || store === undefined) return;
    const local = new Map(store.list().map((k) => [k.publicKey, k]));
    // This file's changes since the last look.
    for (const [key, k] of local) {
      if (!this.#file.has(key)) {
        await whileLeaderless(() => kv.put(`key.${key}`, JSON.stringify(k)));
      }
    }
    for (const key of this.#file.keys()) {
      if (!local.has(key)) await whileLeaderless(() => kv.delete(`key.${key}`));
    }
    // The bucket's, into the file.
    const shared = new Map<string, TrustedKey>();
    for (const k of await bucketKeys(kv, 'key.*')) {
      const e = await whileLeaderless(() => kv.get(k));
      if (e === null || e.operation !== 'PUT') continue;
      const publicKey = k.slice('key.'.length);
      let label: unknown;
      try {
        label = (e.json() as { label?: unknown }).label;
      } catch {
        continue;
      }
      if (!isPublicKey(publicKey)) continue;
      shared.set(publicKey, {
        publicKey,
        addedAt: 0,
        ...(typeof label === 'string' && { label }),
      });
    }
    for (const [key, k] of shared) {
      if (!local.has(key) && !this.#bucket.has(key)) {
        store.add(key, k.label);
        local.set(key, { ...k, addedAt: Date.now() });
      }
    }
    for (const key of this.#bucket) {
      if (!shared.has(key) && local.has(key) && this.#file.has(key)) {
        store.remove(key);
        local.delete(key);
      }
    }
    this.#file = local;
    this.#bucket = new Set([...shared.keys(), ...local.keys()]);
    this.#save();
  }

  /** What the last run synced (none on a first start: every key of the file is then new). */
  #load(): void {
    try {
      const snap = JSON.parse(readFileSync(this.#snapshotPath, 'utf8')) as {
        file?: unknown;
        bucket?: unknown;
      };
      const keys = (v: unknown): string[] =>
        Array.isArray(v) ? v.filter((k): k is string => isPublicKey(k)) : [];
      const local = new Map(this.#store?.list().map((k) => [k.publicKey, k]) ?? []);
      this.#file = new Map(
        keys(snap.file).flatMap((k) => {
          const rec = local.get(k);
          return rec === undefined ? [] : [[k, rec] as const];
        }),
      );
      // A key synced before and removed from the file since (by hand, while down) stays marked
      // as synced, so the next look deletes it from the bucket too.
      for (const k of keys(snap.file)) {
        if (!this.#file.has(k)) this.#file.set(k, { publicKey: k, addedAt: 0 });
      }
      this.#bucket = new Set(keys(snap.bucket));
    } catch {
      // No snapshot (a first start) or an unreadable one: nothing was synced.
    }
  }

  #save(): void {
    const body = {
      version: 1,
      file: [...this.#file.keys()].sort(),
      bucket: [...this.#bucket].sort(),
    };
    const tmp = `${this.#snapshotPath}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.#snapshotPath);
  }
}

/** Where the last sync is kept, in the data dir. */
export const SNAPSHOT_FILE = 'trust-shared.json';
