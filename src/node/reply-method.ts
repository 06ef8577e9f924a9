import {
  DEFAULT_REPLY_METHOD,
  decodeJson,
  type Message,
  type MethodName,
} from '../protocol/index.js';

/**
 * The method that handles the answer to `request` on the node that sent it: the request's
 * replyMethod, else Steward's default (append to file). A request that is itself a reply (Steward's
 * chaining: replyMethod REQCliCommand) is answered with REQNone, since its result has already been
 * handled by the command it ran. A relayed message (REQRelay) is answered with its relayReplyMethod.
 */
export function replyMethodFor(request: Message): MethodName {
  // Steward's relay step 6: the result of a relayed message is handled by relayReplyMethod.
  if (request.method === 'REQRelay' && request.relayReplyMethod !== undefined) {
    return request.relayReplyMethod;
  }
  if (request.replyMethod !== undefined) return request.replyMethod;
  return request.inReplyTo !== undefined ? 'REQNone' : DEFAULT_REPLY_METHOD;
}

/**
 * What a reply to `sent` must name, recorded with it in the outbox (policy.ts checks replies
 * against it): the reply method and the JSON text of the replyMethodArgs it carries.
 */
export function expectedReplyOf(sent: Message): { method: string; args: string } {
  return { method: replyMethodFor(sent), args: JSON.stringify(sent.replyMethodArgs ?? []) };
}

/**
 * The message inside an envelope this node signed itself (read back from its outbox). It was
 * validated before it was signed and stored, so it is parsed, not validated again (a schema pass
 * per reply showed in bench/messaging's profile).
 */
export function sentMessage(envelope: Uint8Array): Message | undefined {
  try {
    const value = decodeJson(envelope) as { msg?: unknown } | null;
    const msg = value?.msg;
    return typeof msg === 'object' && msg !== null && typeof (msg as Message).method === 'string'
      ? (msg as Message)
      : undefined;
  } catch {
    return undefined;
  }
}
