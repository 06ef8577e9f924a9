import { cappedExpiry } from './freshness.js';
import { newMessageId } from './id.js';
import { assertMessage, type Message } from './message.js';
import { DEFAULT_REPLY_METHOD } from './methods.js';

// A reply is itself a message (Steward: "the result of the method executed will be delivered back
// to you from the node you sent it from" by `replyMethod`). It goes back to the request's fromNode,
// runs the request's replyMethod with replyMethodArgs, and carries the reply-side timeouts.

export interface ReplyOptions {
  /** The node that ran the request (becomes fromNode). */
  fromNode: string;
  /** Output of the method, Steward's `data`. */
  data: string[];
  /** Position in a stream of replies (REQCliCommandCont, REQTailFile), from 0. */
  seq?: number;
  /** True on the last reply of a stream. */
  final?: boolean;
  /** Unix ms (default `Date.now()`). */
  now?: number;
  /**
   * Time to live in seconds. Default: the request's own delivery window (expiresAt − createdAt),
   * counted from now, so a reply gets as long to travel back as the request had to arrive.
   */
  ttlSeconds?: number;
  /** The receiver's cap on a time to live, ms (default 7 days): bounds the default above. */
  maxTtlMs?: number;
  /** How the request ended, its exit code, error text and standard error (see message.ts). */
  status?: Message['status'];
  exitCode?: number;
  error?: string;
  stderr?: string;
}

export function createReply(request: Message, options: ReplyOptions): Message {
  const now = options.now ?? Date.now();
  const windowMs =
    options.ttlSeconds !== undefined
      ? options.ttlSeconds * 1000
      : cappedExpiry(request, options.maxTtlMs) - request.createdAt;
  return assertMessage({
    id: newMessageId(now),
    fromNode: options.fromNode,
    toNode: request.fromNode,
    method: request.replyMethod ?? DEFAULT_REPLY_METHOD,
    ...(request.replyMethodArgs !== undefined ? { methodArgs: request.replyMethodArgs } : {}),
    ...(request.replyACKTimeout !== undefined ? { ACKTimeout: request.replyACKTimeout } : {}),
    ...(request.replyRetries !== undefined ? { retries: request.replyRetries } : {}),
    ...(request.replyMethodTimeout !== undefined
      ? { methodTimeout: request.replyMethodTimeout }
      : {}),
    ...(request.directory !== undefined ? { directory: request.directory } : {}),
    ...(request.fileName !== undefined ? { fileName: request.fileName } : {}),
    ...(request.jobId !== undefined ? { jobId: request.jobId } : {}),
    ...(options.seq !== undefined ? { seq: options.seq } : {}),
    ...(options.final !== undefined ? { final: options.final } : {}),
    ...(options.status !== undefined ? { status: options.status } : {}),
    ...(options.exitCode !== undefined ? { exitCode: options.exitCode } : {}),
    ...(options.error !== undefined ? { error: options.error } : {}),
    ...(options.stderr !== undefined ? { stderr: options.stderr } : {}),
    data: options.data,
    isReply: true,
    inReplyTo: request.id,
    createdAt: now,
    expiresAt: now + windowMs,
  });
}
