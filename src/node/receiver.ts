import type { Msg } from '@nats-io/transport-node';
import type { MethodRegistry } from '../methods/registry.js';
import type { Logger } from '../observability/logger.js';
import {
  type AckFrame,
  checkFreshness,
  DecodeError,
  decodeEnvelope,
  dedupHorizon,
  type Envelope,
  encodeAck,
  isValidSignature,
} from '../protocol/index.js';
import type { Store } from '../store/store.js';
import type { Policy } from './policy.js';

export interface ReceiverDeps {
  readonly nodeName: string;
  readonly store: Store;
  readonly registry: MethodRegistry;
  readonly policy: Policy;
  readonly log: Logger;
  /** A new message is in the inbox. */
  readonly onStored: () => void;
  /** A message was refused; the node reports it to central's error log. */
  readonly onRejected: (envelope: Envelope | undefined, reason: string) => void;
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
      // Without a valid envelope there is no id to ACK: the sender's bytes are broken.
      this.rejected++;
      const reason = err instanceof DecodeError || err instanceof Error ? err.message : String(err);
      this.#deps.onRejected(undefined, `undecodable message: ${reason}`);
      return;
    }
    const reason = this.#refusal(envelope);
    if (reason !== undefined) {
      this.rejected++;
      this.#respond(nats, { ack: envelope.msg.id, status: 'rejected', error: reason });
      this.#deps.onRejected(envelope, reason);
      return;
    }
    const msg = envelope.msg;
    const status = this.#deps.store.inbox.storeOnce({
      id: msg.id,
      fromNode: msg.fromNode,
      method: msg.method,
      envelope: nats.data,
      expiresAt: dedupHorizon(msg),
    });
    if (status === 'stored') testFault('exit-after-store');
    this.#respond(nats, { ack: msg.id, status });
    this.#deps.store.audit.append({
      at: Date.now(),
      direction: 'in',
      event: status === 'stored' ? 'received' : 'duplicate',
      id: msg.id,
      fromNode: msg.fromNode,
      toNode: msg.toNode ?? this.#deps.nodeName,
      method: msg.method,
      message: msg,
    });
    if (status === 'stored') this.#deps.onStored();
  }

  #refusal(envelope: Envelope): string | undefined {
    const { msg, sig, signer } = envelope;
    if (msg.toNode !== this.#deps.nodeName) {
      return `addressed to ${msg.toNode ?? 'a broadcast'}, received by ${this.#deps.nodeName}`;
    }
    try {
      checkFreshness(msg);
    } catch (err) {
      return (err as Error).message;
    }
    if (!isValidSignature(msg, sig, signer)) return `bad signature from ${signer}`;
    if (!this.#deps.registry.has(msg.method))
      return `method ${msg.method} is not available on ${this.#deps.nodeName}`;
    return this.#deps.policy.check(msg, signer, this.#deps.registry.get(msg.method));
  }

  #respond(nats: Msg, frame: AckFrame): void {
    if (nats.reply) nats.respond(encodeAck(frame));
  }
}

/**
 * TEST ONLY: a crash at a named point, for tests that must kill a node at an exact moment with
 * real processes. `ADMIRAL_TEST_FAULT=exit-after-store` makes the node SIGKILL itself right after
 * a new message is committed to its inbox and before the ACK goes out (no cleanup runs, as in a
 * crash). Unset in production: the variable is read once, and nothing else changes.
 */
const TEST_FAULT = process.env.ADMIRAL_TEST_FAULT;

function testFault(point: 'exit-after-store'): void {
  if (TEST_FAULT === point) process.kill(process.pid, 'SIGKILL');
}
