import { JetStreamApiCodes, JetStreamApiError, jetstream } from '@nats-io/jetstream';
import { Bucket, Kvm } from '@nats-io/kv';
import { delay, type NatsConnection, RequestError, TimeoutError } from '@nats-io/transport-node';
import { JetStreamStateError } from '../errors.js';

// Central's shared state on a nats-server with JetStream: one KV bucket per table family, named
// `<prefix>_<family>`, created on first use with the replicas configured (R3 on a 3-server
// cluster keeps every acknowledged write through the loss of one server: a KV put is acknowledged
// once a majority of the stream's replicas stored it, see nats-server's JetStream clustering docs).

export interface JetStreamStateOptions {
  /** Bucket name prefix; default `admiral`. */
  readonly prefix?: string;
  /** Copies of each bucket on different servers (1, 3 or 5); default 1. */
  readonly replicas?: number;
}

/** How long opening a bucket keeps asking a cluster that times out (re-electing), in ms. */
const OPEN_WAIT_MS = 20_000;

/** Opens (creating when missing) the bucket of `family`. */
export async function openBucket(
  nc: NatsConnection,
  family: string,
  options: JetStreamStateOptions & { readonly history?: number; readonly ttlMs?: number } = {},
): Promise<Bucket> {
  const bucket = `${options.prefix ?? 'admiral'}_${family}`;
  const deadline = Date.now() + OPEN_WAIT_MS;
  try {
    let kv;
    for (;;) {
      try {
        kv = await new Kvm(jetstream(nc)).create(bucket, {
          replicas: options.replicas ?? 1,
          history: options.history ?? 1,
          ...(options.ttlMs !== undefined && { ttl: options.ttlMs }),
        });
        break;
      } catch (err) {
        // A cluster that just lost a server answers again once it re-elected its leaders.
        if (!(err instanceof TimeoutError) || Date.now() > deadline) throw err;
      }
    }
    if (!(kv instanceof Bucket)) throw new Error('@nats-io/kv returned no Bucket');
    return kv;
  } catch (err) {
    const why =
      err instanceof JetStreamApiError &&
      err.code === JetStreamApiCodes.JetStreamNotEnabledForAccount
        ? 'JetStream is not enabled for this account'
        : err instanceof Error && /jetstream (is )?not enabled|no responders/i.test(err.message)
          ? 'the broker has no JetStream (start nats-server with -js, or set central.state.backend to sqlite)'
          : err instanceof Error
            ? err.message
            : String(err);
    throw new JetStreamStateError(
      `cannot open KV bucket ${bucket}: ${why}`,
      { bucket },
      {
        cause: err,
      },
    );
  }
}

/**
 * How long a read or write of an open bucket keeps asking while its stream has no leader, in ms:
 * when the server leading the stream dies, the others elect another within nats-server's raft
 * election timeout (4-9 s), and until then nothing takes the stream's subjects.
 */
const LEADERLESS_WAIT_MS = 15_000;

/**
 * True when `err` says no server took the request: "no responders" (no stream leader right now;
 * the JetStream client reports it as "jetstream is not enabled", the cause being the no-responders
 * RequestError) or no answer in time (a leader that died after taking it, or a client moving to
 * another server).
 */
function isLeaderless(err: unknown): boolean {
  if (err instanceof TimeoutError) return true;
  const cause = err instanceof Error && err.name === 'JetStreamNotEnabled' ? err.cause : err;
  return cause instanceof RequestError && cause.isNoResponders();
}

/**
 * Runs `op` (on a bucket already opened, so JetStream exists) and runs it again, backing off,
 * while it fails because its stream is re-electing, up to `waitMs`. `op` gets the attempt number:
 * an attempt after a timeout may find the effect of the one before it (see KvRegistryState.insert).
 */
export async function whileLeaderless<T>(
  op: (attempt: number) => Promise<T>,
  waitMs = LEADERLESS_WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await op(attempt);
    } catch (err) {
      if (!isLeaderless(err) || Date.now() >= deadline) throw err;
      await delay(Math.min(100 * 2 ** attempt, 1000));
    }
  }
}

/** True when `err` is JetStream refusing a write because the key's revision moved on. */
export function isWrongRevision(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** KV keys allow `[-/_=.A-Za-z0-9]`: names are stored base64url-encoded, so any name fits. */
export const encodeKey = (name: string): string => Buffer.from(name, 'utf8').toString('base64url');
export const decodeKey = (key: string): string => Buffer.from(key, 'base64url').toString('utf8');

/**
 * The keys of `kv` (matching `filter`, a subject pattern) that hold or held a value, from the
 * stream's subjects. Unlike `kv.keys()`, this
 * makes no consumer, so it works while the cluster re-elects its meta leader after losing a server.
 */
export async function bucketKeys(kv: Bucket, filter = '>'): Promise<string[]> {
  const prefix = `$KV.${kv.bucket}.`;
  const info = await whileLeaderless(() =>
    kv.jsm.streams.info(kv.stream, { subjects_filter: `${prefix}${filter}` }),
  );
  return Object.keys(info.state.subjects ?? {}).map((s) => s.slice(prefix.length));
}
