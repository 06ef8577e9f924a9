import { DEFAULT_REPLY_METHOD, type Message, type MethodName } from '../protocol/index.js';

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
