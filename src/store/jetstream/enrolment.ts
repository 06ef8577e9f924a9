import { type Bucket, type KvEntry, KvWatchInclude } from '@nats-io/kv';
import { delay, type NatsConnection } from '@nats-io/transport-node';
import { type EnrolChange, parseNode, parseToken } from '../../central/enrolment-store.js';
import type { Logger } from '../../observability/logger.js';
import { type Identity, isValidNodeName } from '../../protocol/index.js';
import { seal, unseal } from './sealed.js';
import { bucketKeys, type JetStreamStateOptions, openBucket, whileLeaderless } from './buckets.js';

// Enrolment shared by centrals (docs/operations.md, "Scaling out"): the join tokens and the nodes
// that asked to join, one KV key each in `<prefix>_enrolment` (`token.<id>`, `node.<name>`). The
// leading central writes every change it makes there; every central keeps its own copy (its
// enrolment.json) and takes in the others' changes as they come (watch) and, in full, when it
// takes the lease (`all`). Each value is signed by the centrals' shared key and carries the time
// it was written (a dropped record is a tombstone value): a value signed by any other key, or one
// that does not parse as a record, is skipped, and the extension takes only values newer than the
// record it holds (central/enrolment.ts), so a user allowed the JetStream API but without the key
// can neither admit a node nor bring back an old record (an `accepted` over a `revoked`).

const TOKEN_ID = /^[0-9a-f]{12}$/;

export class SharedEnrolment {
  private constructor(
    readonly kv: Bucket,
    readonly identity: Identity,
  ) {}

  /** The bucket of `nc`'s fleet; values are signed by, and taken only from, `identity`. */
  static async open(
    nc: NatsConnection,
    options: JetStreamStateOptions,
    identity: Identity,
  ): Promise<SharedEnrolment> {
    return new SharedEnrolment(await openBucket(nc, 'enrolment', options), identity);
  }

  /**
   * Writes one change at time `at`: the record, or a tombstone when it was dropped (a value, not a
   * delete, so that nobody can undo a drop by deleting), signed by the centrals' key.
   */
  async write(change: EnrolChange, at: number): Promise<void> {
    const key = `${change.kind}.${change.key}`;
    const rec = change.value === undefined ? null : change.value;
    const sealed = seal(this.kv.bucket, key, JSON.stringify({ rec, at }), this.identity);
    await whileLeaderless(() => this.kv.put(key, sealed));
  }

  /** Every record the bucket holds, with its time. */
  async all(): Promise<{ change: EnrolChange; at: number }[]> {
    const keys = await bucketKeys(this.kv);
    const entries = await Promise.all(keys.map((k) => whileLeaderless(() => this.kv.get(k))));
    return entries.flatMap((e) => {
      const got = e === null ? undefined : this.#decode(e);
      return got === undefined ? [] : [got];
    });
  }

  #decode(e: KvEntry): { change: EnrolChange; at: number } | undefined {
    return decode(e, this.kv.bucket, this.identity.publicKey);
  }

  /**
   * Calls `onChange` for every change written after now, until the returned function is called.
   * A watch that ends (its consumer lost with a server) is made again, and `onGap` is called: what
   * changed in between is read in full there.
   */
  watch(
    onChange: (change: EnrolChange, at: number) => void,
    onGap: () => void,
    log: Logger,
  ): () => void {
    let stopped = false;
    let stop: (() => void) | undefined;
    void (async () => {
      for (let first = true; !stopped; first = false) {
        try {
          const it = await this.kv.watch({ include: KvWatchInclude.UpdatesOnly });
          stop = () => it.stop();
          if (stopped) it.stop();
          if (!first) onGap();
          for await (const e of it) {
            const got = this.#decode(e);
            if (got !== undefined) onChange(got.change, got.at);
          }
        } catch (err) {
          if (!stopped)
            log('warn', 'enrolment watch ended; watching again', { error: String(err) });
        }
        if (!stopped) await delay(1000);
      }
    })();
    return () => {
      stopped = true;
      stop?.();
    };
  }
}

/** A value sealed by `signer` for its key: the change it holds and its time; else undefined. */
function decode(
  e: KvEntry,
  bucket: string,
  signer: string,
): { change: EnrolChange; at: number } | undefined {
  if (e.operation !== 'PUT') return undefined;
  const dot = e.key.indexOf('.');
  const kind = e.key.slice(0, dot);
  const key = e.key.slice(dot + 1);
  const text = unseal(bucket, e.key, e.string(), signer);
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as { rec?: unknown; at?: unknown };
    if (typeof v.at !== 'number' || v.rec === undefined) return undefined;
    const value = v.rec === null ? undefined : v.rec;
    if (kind === 'token' && TOKEN_ID.test(key)) {
      const change: EnrolChange =
        value === undefined ? { kind, key } : { kind, key, value: parseToken(value) };
      return { change, at: v.at };
    }
    if (kind === 'node' && isValidNodeName(key)) {
      const change: EnrolChange =
        value === undefined ? { kind, key } : { kind, key, value: parseNode(value) };
      return { change, at: v.at };
    }
  } catch {
    return undefined; // not a record: skipped
  }
  return undefined;
}
