// REQRelay, as Steward's relay diagram shows it (seed 003, "REQRelay"):
//   node1 ─1─▶ relay ─2─▶ node2, and back node2 ─4─▶ relay ─5─▶ node1 (6: relayReplyMethod).
// 1. The origin sends a message with relayViaNode to that node as REQRelay, the original toNode and
//    method kept in relayToNode and relayOriginalMethod (wrapForRelay, called by the node's send).
// 2. On the relay node REQRelay recreates the original message, signed by the relay node, and
//    sends it to relayToNode with itself (REQRelay) as the reply method. It answers nothing yet
//    (deferred): the origin's message stays delivered until the result comes back.
// 4–5. Each reply from node2 arrives at the relay node as REQRelay: the original replyMethod runs
//    there (Steward: "the original reply method is handled on central"), and a copy goes to the
//    origin as a reply to its REQRelay message, with the same data, status and stream position.
// 6. The origin handles the copy with relayReplyMethod; the final copy settles its message.
// What links a reply at the relay node to the origin's message is kept in <dataDir>/relay/<id>.json,
// so a relay node restarted between steps 2 and 5 still forwards the result.

import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { newMessageId } from '../protocol/id.js';
import type { Message } from '../protocol/message.js';
import { DEFAULT_REPLY_METHOD } from '../protocol/methods.js';
import { BadMethodArgsError, NoNodeServicesError } from './errors.js';
import { failure } from './output.js';
import { toConsole } from './to-console.js';
import { toFile, toFileAppend } from './to-file.js';
import {
  type MethodContext,
  type MethodHandler,
  MethodKind,
  type MethodOutput,
  MethodStatus,
} from './types.js';

/**
 * Step 1 (on the origin): a message with relayViaNode (other than this node) leaves as REQRelay
 * to that node; other messages are returned unchanged.
 */
export function wrapForRelay(msg: Message, self: string): Message {
  if (
    msg.relayViaNode === undefined ||
    msg.relayViaNode === self ||
    msg.method === 'REQRelay' ||
    msg.toNode === undefined ||
    msg.inReplyTo !== undefined
  ) {
    return msg;
  }
  return {
    ...msg,
    toNode: msg.relayViaNode,
    method: 'REQRelay',
    relayToNode: msg.toNode,
    relayOriginalMethod: msg.method,
    relayFromNode: self,
  };
}

/** What the relay node keeps about a message it relayed, until its final reply is forwarded. */
interface RelayRecord {
  /** The id of the origin's REQRelay message: the forwarded replies answer it. */
  readonly relayId: string;
  readonly origin: string;
  /** How the origin handles the result (Steward's relayReplyMethod, else its replyMethod). */
  readonly originReplyMethod: string;
  /** The original replyMethod, run on the relay node (Steward step 5). */
  readonly replyMethod: string;
  readonly replyMethodArgs: readonly string[];
  readonly replyACKTimeout?: number;
  readonly replyRetries?: number;
}

/** Reply methods the relay node can run for the original replyMethod. */
const LOCAL_REPLY_HANDLERS: ReadonlyMap<string, MethodHandler> = new Map(
  [toFile, toFileAppend, toConsole].map((h) => [h.name, h]),
);

function recordPath(dataDir: string, innerId: string): string {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(innerId)) {
    throw new BadMethodArgsError(
      `Expected a message id, got ${JSON.stringify(innerId)}`,
      'REQRelay',
    );
  }
  return join(dataDir, 'relay', `${innerId}.json`);
}

async function saveRecord(dataDir: string, innerId: string, rec: RelayRecord): Promise<void> {
  const file = recordPath(dataDir, innerId);
  await mkdir(join(dataDir, 'relay'), { recursive: true, mode: 0o700 });
  await writeFile(`${file}.tmp`, JSON.stringify(rec), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

async function loadRecord(dataDir: string, innerId: string): Promise<RelayRecord | undefined> {
  try {
    return JSON.parse(await readFile(recordPath(dataDir, innerId), 'utf8')) as RelayRecord;
  } catch {
    return undefined;
  }
}

/** Step 2: recreate the original message and send it on, signed by this node. */
async function relayRequest(ctx: MethodContext, msg: Message): Promise<MethodOutput> {
  const services = ctx.services;
  if (!services) return failure(new NoNodeServicesError('REQRelay'));
  if (msg.relayToNode === undefined || msg.relayOriginalMethod === undefined) {
    return failure(
      new BadMethodArgsError(
        `Expected a relayed message to carry relayToNode and relayOriginalMethod, got ${JSON.stringify({ relayToNode: msg.relayToNode, relayOriginalMethod: msg.relayOriginalMethod })}`,
        'REQRelay',
      ),
    );
  }
  const innerId = newMessageId();
  await saveRecord(ctx.dataDir, innerId, {
    relayId: msg.id,
    origin: msg.fromNode,
    originReplyMethod: msg.relayReplyMethod ?? msg.replyMethod ?? DEFAULT_REPLY_METHOD,
    replyMethod: msg.replyMethod ?? DEFAULT_REPLY_METHOD,
    replyMethodArgs: msg.replyMethodArgs ?? [],
    ...(msg.replyACKTimeout !== undefined && { replyACKTimeout: msg.replyACKTimeout }),
    ...(msg.replyRetries !== undefined && { replyRetries: msg.replyRetries }),
  });
  const inner: Record<string, unknown> = {
    id: innerId,
    toNode: msg.relayToNode,
    method: msg.relayOriginalMethod,
    replyMethod: 'REQRelay',
    relayFromNode: msg.fromNode,
    relayOriginalMethod: msg.relayOriginalMethod,
    expiresAt: msg.expiresAt,
  };
  for (const field of [
    'methodArgs',
    'replyMethodArgs',
    'ACKTimeout',
    'retries',
    'replyACKTimeout',
    'replyRetries',
    'methodTimeout',
    'replyMethodTimeout',
    'directory',
    'fileName',
    'data',
    'relayReplyMethod',
    'jobId',
  ] as const) {
    if (msg[field] !== undefined) inner[field] = msg[field];
  }
  const result = services.submit([inner]);
  if (result.accepted.length !== 1) {
    await rm(recordPath(ctx.dataDir, innerId), { force: true });
    return failure(
      new BadMethodArgsError(
        `cannot relay to ${msg.relayToNode}: ${result.rejected.flatMap((r) => r.errors).join('; ')}`,
        'REQRelay',
      ),
    );
  }
  ctx.log('info', 'relayed a message', { relayId: msg.id, to: msg.relayToNode, innerId });
  return { status: MethodStatus.ok, data: '', deferred: true };
}

/** Steps 5: run the original replyMethod here and forward a copy of the reply to the origin. */
async function relayReply(ctx: MethodContext, reply: Message): Promise<MethodOutput> {
  const services = ctx.services;
  if (!services) return failure(new NoNodeServicesError('REQRelay'));
  const innerId = reply.inReplyTo ?? '';
  const rec = await loadRecord(ctx.dataDir, innerId);
  if (!rec) {
    ctx.log('warn', 'a reply to a relayed message arrived, but nothing is known about it', {
      inReplyTo: innerId,
    });
    return {
      status: MethodStatus.error,
      data: '',
      error: `no relay record for ${innerId}`,
      deferred: true,
    };
  }
  const local = LOCAL_REPLY_HANDLERS.get(rec.replyMethod);
  if (local) {
    const out = await local.run({
      ...ctx,
      request: { ...ctx.request, method: rec.replyMethod, methodArgs: rec.replyMethodArgs },
    });
    if (out.status !== MethodStatus.ok) {
      ctx.log('warn', 'the original reply method failed on the relay node', {
        replyMethod: rec.replyMethod,
        error: out.error,
      });
    }
  }
  const copy: Record<string, unknown> = {
    toNode: rec.origin,
    method: rec.originReplyMethod,
    methodArgs: rec.replyMethodArgs,
    inReplyTo: rec.relayId,
    isReply: true,
    data: reply.data ?? [],
  };
  if (rec.replyACKTimeout !== undefined) copy['ACKTimeout'] = rec.replyACKTimeout;
  if (rec.replyRetries !== undefined) copy['retries'] = rec.replyRetries;
  for (const field of [
    'directory',
    'fileName',
    'seq',
    'final',
    'status',
    'exitCode',
    'error',
    'stderr',
    'jobId',
  ] as const) {
    if (reply[field] !== undefined) copy[field] = reply[field];
  }
  const result = services.submit([copy]);
  if (result.accepted.length !== 1) {
    const why = result.rejected.flatMap((r) => r.errors).join('; ');
    ctx.log('error', 'cannot forward a relayed reply to its origin', { origin: rec.origin, why });
    return { status: MethodStatus.error, data: '', error: why, deferred: true };
  }
  if (reply.final !== false) await rm(recordPath(ctx.dataDir, innerId), { force: true });
  return { status: MethodStatus.ok, data: '', deferred: true };
}

async function run(ctx: MethodContext): Promise<MethodOutput> {
  const msg = ctx.request.message;
  if (!msg) return failure(new NoNodeServicesError('REQRelay'));
  return msg.inReplyTo === undefined ? relayRequest(ctx, msg) : relayReply(ctx, msg);
}

export const relay: MethodHandler = {
  name: 'REQRelay',
  kind: MethodKind.request,
  privileged: true,
  run,
};
