import type { Msg } from '@nats-io/transport-node';
import type { MethodRegistry } from '../methods/registry.js';
import type { Logger } from '../observability/logger.js';
import {
  type AckFrame,
  cappedExpiry,
  checkFreshness,
  DecodeError,
  decodeEnvelope,
  decodeJson,
  type Envelope,
  encodeAck,
  type Message,
  type SignatureVerifier,
  UUIDV7_PATTERN,
} from '../protocol/index.js';
import type { AuditEntry } from '../store/audit.js';
import type { OutboxTerminalState } from '../store/outbox.js';
import type { Store } from '../store/store.js';
import type { NodeKeys } from './node-keys.js';
import type { Policy } from './policy.js';

export interface ReceiverDeps {
  readonly nodeName: string;
  /** Allowed clock difference, ms; default 60 s (protocol's DEFAULT_MAX_CLOCK_SKEW_MS). */
  readonly maxClockSkewMs?: number;
  /** Longest time to live from createdAt, ms; default 7 days (protocol's DEFAULT_MAX_TTL_MS). */
  readonly maxTtlMs?: number;
  readonly store: Store;
  readonly registry: MethodRegistry;
  readonly policy: Policy;
  /** The key each node name is known by: a message is taken only from its fromNode's key. */
  readonly nodeKeys: NodeKeys;
  readonly log: Logger;
  /** Checks signatures off the node's thread. */
  readonly verifier: SignatureVerifier;
  /** New messages are in the inbox (decoded, verified): the executor need not decode them again. */
  readonly onStored: (messages: readonly Message[]) => void;
  /**
   * Replies that only settle the request they answer (the executor's `settlesOnly`): settled in
   * the receiver's commit instead of being stored in the inbox.
   */
  readonly settler?: Settler;
  /** A message was refused; the node reports it to central's error log. */
  readonly onRejected: (refused: Refused, reason: string) => void;
}

/**
 * The receiving half (DESIGN.md, "How a message travels"): decode, check addressing, freshness,
 * signature and policy, then commit to the inbox and only then ACK. A duplicate id is ACKed
 * again and never run twice.
 */
export class Receiver {
  readonly #deps: ReceiverDeps;
  received = 0;
  rejected = 0;
  lastMessageAt: number | null = null;
  /** Received in this turn of the event loop, waiting for their signatures to be checked. */
  #unverified: Unverified[] = [];
  /** Verified and allowed, waiting for their inbox commit. */
  #batch: Received[] = [];

  constructor(deps: ReceiverDeps) {
    this.#deps = deps;
  }

  handle(nats: Msg): void {
    this.received++;
    this.lastMessageAt = Date.now();
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(nats.data);
    } catch (err) {
      this.rejected++;
      const reason = err instanceof DecodeError || err instanceof Error ? err.message : String(err);
      // Unsigned or malformed: answered `rejected` when it names an id (so its sender stops
      // resending), and reported like a badly signed one.
      const named = namedIn(nats.data);
      if (named.id !== undefined) {
        this.#respond(nats, {
          ack: named.id,
          status: 'rejected',
          error: `invalid envelope: ${reason}`,
        });
      }
      this.#deps.onRejected(named, `invalid envelope: ${reason}`);
      return;
    }
    const reason = this.#precheck(envelope);
    if (reason !== undefined) {
      this.#refuse(nats, envelope, reason);
      return;
    }
    // Signatures are checked in batches on the verifier's thread (protocol/verifier.ts).
    this.#unverified.push({ nats, envelope });
    if (this.#unverified.length === 1) setImmediate(() => this.#verify());
  }

  #verify(): void {
    const batch = this.#unverified;
    this.#unverified = [];
    void this.#deps.verifier
      .verifyMany(batch.map((r) => r.envelope))
      .then((valid) => {
        for (let i = 0; i < batch.length; i++) {
          const { nats, envelope } = batch[i] as Unverified;
          const reason = valid[i]
            ? (this.#deps.nodeKeys.admit(envelope.msg.fromNode, envelope.signer) ??
              this.#refusal(envelope))
            : `bad signature from ${envelope.signer}`;
          if (reason !== undefined) this.#refuse(nats, envelope, reason);
          // Group commit: what is verified together is stored in one transaction, then ACKed.
          // Each ACK still follows its own message's commit.
          else this.#batch.push({ nats, msg: envelope.msg });
        }
        this.#pinNewKeys();
        if (this.#batch.length > 0) this.#flush();
      })
      .catch((err: unknown) => {
        // Not stored, so not ACKed: the senders retry.
        this.#deps.log('error', 'cannot check received messages', { error: String(err) });
      });
  }

  #refuse(nats: Msg, envelope: Envelope, reason: string): void {
    this.rejected++;
    this.#respond(nats, { ack: envelope.msg.id, status: 'rejected', error: reason });
    const { id, fromNode, method } = envelope.msg;
    this.#deps.onRejected({ id, fromNode, method, signer: envelope.signer }, reason);
  }

  /** First contacts are written before their messages are stored (and so before any ACK). */
  #pinNewKeys(): void {
    try {
      this.#deps.nodeKeys.flush();
    } catch (err) {
      this.#deps.log('warn', 'cannot record the keys of nodes seen for the first time', {
        error: String(err),
      });
    }
  }

  #flush(): void {
    const batch = this.#batch;
    this.#batch = [];
    const { store, nodeName, log } = this.#deps;
    const { settler } = this.#deps;
    let statuses: ('stored' | 'duplicate')[];
    const settled: { id: string; state: OutboxTerminalState }[] = [];
    let settledReplies = 0;
    const settles = batch.map(({ msg }) => settler?.settlesOnly(msg) === true);
    try {
      statuses = store.database.db.transaction(() =>
        batch.map(({ nats, msg }, i) => {
          if (settler !== undefined && settles[i] === true) {
            const s = settler.settle(msg);
            if (s === 'duplicate') return 'duplicate';
            settledReplies++;
            if (s !== 'new') settled.push(s);
            return 'stored';
          }
          return store.inbox.storeOnce({
            id: msg.id,
            fromNode: msg.fromNode,
            method: msg.method,
            envelope: nats.data,
            // Never run at or past it; the id is kept until it plus the skew (Node.purgeInbox).
            expiresAt: cappedExpiry(msg, this.#deps.maxTtlMs),
          });
        }),
      )();
    } catch (err) {
      // Not stored, so not ACKed: every sender retries.
      log('error', 'cannot store received messages; their senders will retry', {
        count: batch.length,
        error: String(err),
      });
      return;
    }
    if (statuses.includes('stored')) testFault('exit-after-store');
    const at = Date.now();
    const audit: AuditEntry[] = [];
    const stored: Message[] = [];
    // What else must hold a settled reply before its ACK (a job's outcome on shared state): the
    // sender keeps it until then, so a central that dies in between loses nothing. A copy seen
    // again is held as well: its first ACK may be the one that never left.
    const answered = batch.flatMap(({ msg }, i) =>
      settles[i] === true && msg.inReplyTo !== undefined ? [msg.inReplyTo] : [],
    );
    const held = answered.length > 0 ? settler?.hold?.(answered) : undefined;
    const later: { nats: Msg; frame: AckFrame }[] = [];
    for (let i = 0; i < batch.length; i++) {
      const { nats, msg } = batch[i] as Received;
      const status = statuses[i] as 'stored' | 'duplicate';
      if (held !== undefined && settles[i] === true)
        later.push({ nats, frame: { ack: msg.id, status } });
      else this.#respond(nats, { ack: msg.id, status });
      const settledHere = settles[i] === true;
      if (status === 'stored' && !settledHere) stored.push(msg);
      const line = {
        at,
        direction: 'in' as const,
        id: msg.id,
        fromNode: msg.fromNode,
        toNode: msg.toNode ?? nodeName,
        method: msg.method,
      };
      audit.push({ ...line, event: status === 'stored' ? 'received' : 'duplicate', message: msg });
      // As the executor writes it for what it runs.
      if (status === 'stored' && settledHere)
        audit.push({ ...line, event: 'finished', state: 'ok' });
    }
    store.audit.appendMany(audit);
    if (settledReplies > 0) settler?.settled(settled, settledReplies);
    if (stored.length > 0) this.#deps.onStored(stored);
    held?.then(
      () => {
        for (const { nats, frame } of later) this.#respond(nats, frame);
      },
      (err: unknown) =>
        // Not ACKed: their senders retry, and the next copy is held again.
        log('warn', 'settled replies not acknowledged: what holds them failed', {
          count: later.length,
          error: String(err),
        }),
    );
  }

  /** Why the message is refused before its signature is checked: addressing and freshness. */
  #precheck(envelope: Envelope): string | undefined {
    const { msg } = envelope;
    if (msg.toNode !== this.#deps.nodeName) {
      return `addressed to ${msg.toNode ?? 'a broadcast'}, received by ${this.#deps.nodeName}`;
    }
    try {
      checkFreshness(msg, {
        ...(this.#deps.maxClockSkewMs !== undefined && {
          maxClockSkewMs: this.#deps.maxClockSkewMs,
        }),
        ...(this.#deps.maxTtlMs !== undefined && { maxTtlMs: this.#deps.maxTtlMs }),
      });
    } catch (err) {
      return (err as Error).message;
    }
    return undefined;
  }

  /** Why a correctly signed message may not run here: method and policy. */
  #refusal(envelope: Envelope): string | undefined {
    const { msg, signer } = envelope;
    if (!this.#deps.registry.has(msg.method))
      return `method ${msg.method} is not available on ${this.#deps.nodeName}`;
    return this.#deps.policy.check(msg, signer, this.#deps.registry.get(msg.method));
  }

  #respond(nats: Msg, frame: AckFrame): void {
    if (nats.reply) nats.respond(encodeAck(frame));
  }
}

/** Settles replies that only settle their request (the node's executor). */
export interface Settler {
  settlesOnly(msg: Message): boolean;
  settle(msg: Message): { id: string; state: OutboxTerminalState } | 'new' | 'duplicate';
  settled(requests: readonly { id: string; state: OutboxTerminalState }[], replies: number): void;
  /**
   * After the commit: a promise the ACKs of these settled replies (by the request they answer)
   * wait for, or undefined when nothing holds them. A rejection leaves them unACKed.
   */
  hold?(requests: readonly string[]): Promise<void> | undefined;
}

/** What is known of a refused message: as much as could be read of it. */
export interface Refused {
  readonly id?: string;
  readonly fromNode?: string;
  readonly method?: string;
  readonly signer?: string;
}

/** The id, sender and method an undecodable envelope names, where they are plain strings. */
function namedIn(data: Uint8Array): Refused {
  let value: unknown;
  try {
    value = decodeJson(data);
  } catch {
    return {};
  }
  const msg = (value as { msg?: Record<string, unknown> } | null)?.msg;
  if (msg === null || typeof msg !== 'object') return {};
  const text = (v: unknown, max: number): string | undefined =>
    typeof v === 'string' && v.length <= max ? v : undefined;
  const id = text(msg.id, 64);
  return {
    ...(id !== undefined && UUIDV7_PATTERN.test(id) && { id }),
    ...(text(msg.fromNode, 64) !== undefined && { fromNode: text(msg.fromNode, 64) }),
    ...(text(msg.method, 64) !== undefined && { method: text(msg.method, 64) }),
  };
}

interface Unverified {
  readonly nats: Msg;
  readonly envelope: Envelope;
}

interface Received {
  readonly nats: Msg;
  readonly msg: Message;
}

/**
 * TEST ONLY: a crash at a named point, for tests that must kill a node at an exact moment with
 * real processes. `ADMIRAL_TEST_FAULT=exit-after-store` makes the node SIGKILL itself right after
 * new messages are committed to its inbox and before their ACKs go out (no cleanup runs, as in a
 * crash). Unset in production: the variable is read once, and nothing else changes.
 */
const TEST_FAULT = process.env.ADMIRAL_TEST_FAULT;

function testFault(point: 'exit-after-store'): void {
  if (TEST_FAULT === point) process.kill(process.pid, 'SIGKILL');
}
