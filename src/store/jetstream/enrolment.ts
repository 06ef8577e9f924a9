import { type Bucket, type KvEntry, KvWatchInclude } from '@nats-io/kv';
import { delay, type NatsConnection } from '@nats-io/transport-node';
import { type EnrolChange, parseNode, parseToken } from '../../central/enrolment-store.js';
import type { Logger } from '../../observability/logger.js';
import { isValidNodeName } from '../../protocol/index.js';
import { bucketKeys, type JetStreamStateOptions, openBucket, whileLeaderless } from './buckets.js';

// Enrolment shared by centrals (docs/operations.md, "Scaling out"): the join tokens and the nodes
// that asked to join, one KV key each in `<prefix>_enrolment` (`token.<id>`, `node.<name>`). The
// leading central writes every change it makes there; every central keeps its own copy (its
// enrolment.json) and takes in the others' changes as they come (watch) and, in full, when it
// takes the lease (`all`). A value that does not parse as a record is skipped: the bucket is
// written by centrals only (nodes have no permission on $KV), but nothing read is trusted blind.

const TOKEN_ID = /^[0-9a-f]{12}$/;

export class SharedEnrolment {
  private constructor(readonly kv: Bucket) {}

  static async open(nc: NatsConnection, options: JetStreamStateOptions): Promise<SharedEnrolment> {
    return new SharedEnrolment(await openBucket(nc, 'enrolment', options));
  }

  /** Writes one change (a put, or a delete when the record was dropped); its revision, if a put. */
  async write(change: EnrolChange): Promise<number | undefined> {
    const key = `${change.kind}.${change.key}`;
    const { value } = change;
    if (value === undefined) {
      await whileLeaderless(() => this.kv.delete(key));
      return undefined;
    }
    return whileLeaderless(() => this.kv.put(key, JSON.stringify(value)));
  }

  /** Every record the bucket holds, with its revision. */
  async all(): Promise<{ change: EnrolChange; revision: number }[]> {
    const keys = await bucketKeys(this.kv);
    const entries = await Promise.all(keys.map((k) => whileLeaderless(() => this.kv.get(k))));
    return entries.flatMap((e) => {
      const change = e === null ? undefined : decode(e);
      return change === undefined || e === null ? [] : [{ change, revision: e.revision }];
    });
  }

  /**
   * Calls `onChange` for every change written after now, until the returned function is called.
   * A watch that ends (its consumer lost with a server) is made again, and `onGap` is called: what
   * changed in between is read in full there.
   */
  watch(
    onChange: (change: EnrolChange, revision: number) => void,
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
            const change = decode(e);
            if (change !== undefined) onChange(change, e.revision);
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

function decode(e: KvEntry): EnrolChange | undefined {
  const dot = e.key.indexOf('.');
  const kind = e.key.slice(0, dot);
  const key = e.key.slice(dot + 1);
  const put = e.operation === 'PUT';
  try {
    if (kind === 'token' && TOKEN_ID.test(key)) {
      return put ? { kind, key, value: parseToken(e.json()) } : { kind, key };
    }
    if (kind === 'node' && isValidNodeName(key)) {
      return put ? { kind, key, value: parseNode(e.json()) } : { kind, key };
    }
  } catch {
    return undefined; // not a record: skipped
  }
  return undefined;
}
