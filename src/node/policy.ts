import type { MethodHandler } from '../methods/types.js';
import type { FileTrustStore, Message } from '../protocol/index.js';
import type { Outbox } from '../store/outbox.js';
import { expectedReplyOf, sentMessage } from './reply-method.js';

/**
 * Who may make this node do what (DESIGN.md, "Security by default"; Steward's allowed publishers).
 * - A reply (it answers a message this node sent) is accepted only from the node it was sent to,
 *   and, when the reply method runs a command (Steward's chaining), only with exactly the
 *   replyMethodArgs the original message asked for.
 * - Privileged methods (commands, file reads, HTTP, process control) need a trusted signer: this
 *   node's own key, a key in its trust store, or its central's key.
 * - Everything else needs only a valid signature.
 */
export class Policy {
  constructor(
    private readonly ownKey: string,
    private readonly trust: FileTrustStore,
    private readonly outbox: Outbox,
    /** Keys trusted by configuration (`trust.keys`), besides the trust store. */
    private readonly configuredKeys: readonly string[] = [],
    /** True for a method whose subscriber REQOpProcessStop stopped. */
    private readonly isStopped: (method: string) => boolean = () => false,
  ) {}

  isTrusted(publicKey: string): boolean {
    return (
      publicKey === this.ownKey ||
      this.trust.has(publicKey) ||
      this.configuredKeys.includes(publicKey)
    );
  }

  /** Why the message may not run here, or undefined when it may. */
  check(msg: Message, signer: string, handler: MethodHandler): string | undefined {
    if (this.isStopped(msg.method)) {
      return `the subscriber for ${msg.method} is stopped on ${msg.toNode ?? 'this node'}; REQOpProcessStart with methodArgs ["${msg.method}"] starts it again`;
    }
    if (msg.inReplyTo !== undefined) return this.#checkReply(msg);
    if (handler.kind === 'reply') {
      return `${msg.method} is a reply method and this message answers no request (no inReplyTo)`;
    }
    if (handler.privileged && !this.isTrusted(signer)) {
      return `signer ${signer} (node ${msg.fromNode}) is not trusted to call ${msg.method}; on ${msg.toNode ?? 'this node'} run: admiral trust add ${signer}`;
    }
    return undefined;
  }

  #checkReply(msg: Message): string | undefined {
    const original = this.outbox.replyExpectation(msg.inReplyTo ?? '');
    if (original === undefined) return `reply to unknown message ${msg.inReplyTo}`;
    if (original.toNode !== msg.fromNode) {
      return `reply to ${msg.inReplyTo} came from ${msg.fromNode}, but that message was sent to ${original.toNode}`;
    }
    let expected = original.expected;
    if (expected === undefined) {
      // A row from before the outbox recorded it: read the request itself.
      const sent = original.envelope && sentMessage(original.envelope);
      if (sent === undefined) return undefined;
      expected = expectedReplyOf(sent);
    }
    if (msg.method !== expected.method) {
      return `reply to ${msg.inReplyTo} asks for ${msg.method}, but the request named replyMethod ${expected.method}`;
    }
    if (JSON.stringify(msg.methodArgs ?? []) !== expected.args) {
      return `reply to ${msg.inReplyTo} carries methodArgs other than the request's replyMethodArgs`;
    }
    return undefined;
  }
}
