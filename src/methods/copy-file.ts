// REQCopyFileFrom and REQCopyFileTo: copy a file from one node to another (Steward, seed 003:
// "Source node to copy from is specified in the toNode/toNodes field"; methodArgs
// [source path, destination node, destination path]).
//
// The control steps are durable, signed messages; the bytes are not. REQCopyFileFrom (on the
// source) sends a REQCopyFileTo `open` carrying the size and a random per-transfer key; the
// destination checks the destination path, opens <dataDir>/copy/<transfer id>.part and answers
// with its resume point (bytes from 0 it already holds). The source then streams the rest as
// binary frames by plain NATS request/reply on `<prefix>.bulk.<dest>.<transfer id>`
// (copy-transfer.ts): each frame carries its offset, the chunk's SHA-256 and an HMAC under the
// key, a window of frames is in flight, and a frame is sent again on timeout or a hash mismatch.
// No chunk reaches an outbox, an inbox or an audit log. Last comes a durable `commit` with the
// size and the SHA-256 of the whole file: the destination compares it with the hash of what it
// wrote, syncs, and only on a match renames the part file to the destination path (inside the
// data dir: an absolute path is taken relative to it, as Steward's `directory` is).
//
// A copy that fails or is cancelled removes the part file. A source that crashed runs the same
// transfer again and continues from the destination's resume point; a destination that lost the
// transfer (restart, idle timeout) is opened again. No half file is ever under the final name.
// Steward's own REQCopyFileTo (three methodArgs, the content in `data`) is accepted too.

import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { NODE_NAME_PATTERN } from '../protocol/node-name.js';
import {
  allocFrame,
  type ChunkAck,
  decodeAck,
  dropFiles,
  FRAME_HEADER_BYTES,
  IncomingTransfer,
  incoming,
  incomingKey,
  partFile,
  sealFrame,
  stateFile,
} from './copy-transfer.js';
import {
  BadMethodArgsError,
  CopyFailedError,
  METHOD_ERROR_CODES,
  NoNodeServicesError,
} from './errors.js';
import { sentOutput, waitForSent } from './node-wait.js';
import { abortMessage, abortStatus, failure, sleep } from './output.js';
import { openRegular, unlessAborted } from './regular-file.js';
import { resolveInside, resolveReadable } from './safe-path.js';
import {
  type BulkTransport,
  type MethodContext,
  type MethodHandler,
  MethodKind,
  type MethodOutput,
  MethodStatus,
  type NodeServices,
} from './types.js';

/** 1020 KiB: a frame (73-byte header + chunk) stays under NATS's default 1 MiB max_payload. */
export const DEFAULT_CHUNK_BYTES = 1020 * 1024;
/** Frames sent and not yet confirmed written, at most. */
export const DEFAULT_WINDOW = 8;
/** How long one frame waits for its answer before it is sent again. */
export const DEFAULT_CHUNK_TIMEOUT_MS = 30_000;
/** Sends of one frame before the transfer counts as lost at the destination. */
const CHUNK_ATTEMPTS = 4;
/** Times a lost transfer is opened again before the copy fails. */
const REOPEN_ATTEMPTS = 3;

export interface CopyFileOptions {
  /** Bytes of file per frame; default 1020 KiB, capped by the broker's max_payload. */
  readonly chunkBytes?: number;
  /** Frames in flight; default 8. */
  readonly window?: number;
  /** Wait for one frame's answer, in ms; default 30 s. */
  readonly chunkTimeoutMs?: number;
  /** First pause before a frame is sent again, in ms (then 4× each time); default 100 ms. */
  readonly retryDelayMs?: number;
}

/** The transfer step a REQCopyFileTo message carries, after Steward's three methodArgs. */
const Step = { open: 'open', commit: 'commit', abort: 'abort' } as const;

const TRANSFER_ID = /^[A-Za-z0-9_-]{1,128}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const KEY_TEXT = /^[A-Za-z0-9_-]{43}$/;

function badArgs(ctx: MethodContext, expected: string): MethodOutput {
  return failure(
    new BadMethodArgsError(
      `Expected methodArgs to be ${expected}, got ${JSON.stringify(ctx.request.methodArgs)}`,
      ctx.request.method,
    ),
  );
}

/** The destination path split as reply methods take it: directory (inside the data dir) + name. */
function destinationParts(path: string): { directory: string; fileName: string } {
  return { directory: dirname(posix.normalize(path)), fileName: basename(path) };
}

/** Where the destination is written, checked (and its directory made) before anything is. */
async function destinationFile(
  dataDir: string,
  path: string,
  create: boolean,
  protect: readonly string[] = [],
): Promise<string> {
  const { directory, fileName } = destinationParts(path);
  const first = await resolveInside(dataDir, directory, fileName, protect);
  if (!create) return first;
  await mkdir(dirname(first), { recursive: true, mode: 0o750 });
  // Again: a symlink swapped in while the directories were made is caught before writing.
  return resolveInside(dataDir, directory, fileName, protect);
}

// ---------------------------------------------------------------------------------------------
// Source side: REQCopyFileFrom

interface Transfer {
  readonly ctx: MethodContext;
  readonly services: NodeServices;
  readonly bulk: BulkTransport;
  readonly source: string;
  readonly destNode: string;
  readonly destPath: string;
  readonly transferId: string;
  readonly handle: FileHandle;
  readonly size: number;
  readonly key: Buffer;
  readonly subject: string;
  readonly chunkBytes: number;
  readonly window: number;
  readonly chunkTimeoutMs: number;
  readonly retryDelayMs: number;
}

/** The destination no longer answers for the transfer (it restarted, or dropped it idle). */
class TransferLostError extends Error {
  override readonly name = 'TransferLostError';
}

/** Sends one REQCopyFileTo step to the destination; returns its message id. */
function sendStep(
  t: Pick<Transfer, 'ctx' | 'services' | 'source' | 'destNode' | 'destPath' | 'transferId'>,
  step: string[],
): string {
  const { ctx } = t;
  const result = t.services.submit([
    {
      toNode: t.destNode,
      method: 'REQCopyFileTo',
      methodArgs: [t.source, t.destNode, t.destPath, ...step],
      replyMethod: 'REQNone',
      ...(ctx.request.methodTimeout > 0 && { methodTimeout: ctx.request.methodTimeout }),
      ...(ctx.request.message?.expiresAt !== undefined && {
        expiresAt: ctx.request.message.expiresAt,
      }),
    },
  ]);
  const id = result.accepted[0];
  if (id === undefined) {
    throw new CopyFailedError(
      `cannot send ${step[0]} of transfer ${t.transferId} to ${t.destNode}: ${result.rejected.flatMap((r) => r.errors).join('; ')}`,
      t.transferId,
    );
  }
  return id;
}

/** Waits for a sent step's result; throws unless the destination completed it. */
async function confirmed(t: Transfer, id: string, what: string): Promise<string> {
  const status = await waitForSent(t.services, id, t.ctx.signal);
  if (status === undefined) throw t.ctx.signal.reason ?? new Error('aborted');
  if (status.state !== 'completed') {
    throw new CopyFailedError(
      `${what} of transfer ${t.transferId} ended ${status.state} on ${t.destNode}: ${status.error ?? 'no error given'}`,
      t.transferId,
    );
  }
  return sentOutput(status);
}

/** Opens (or opens again) the transfer at the destination; resolves with its resume point. */
async function openAtDestination(t: Transfer): Promise<number> {
  const id = sendStep(t, [Step.open, t.transferId, String(t.size), t.key.toString('base64url')]);
  const out = await confirmed(t, id, 'open');
  const at = Number(/^resume (\d+)$/m.exec(out)?.[1] ?? 0);
  return Number.isSafeInteger(at) && at <= t.size ? at : 0;
}

async function readFull(
  handle: FileHandle,
  signal: AbortSignal,
  buf: Buffer,
  at: number,
  length: number,
  position: number,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await unlessAborted(
      handle.read(buf, at + done, length - done, position + done),
      signal,
    );
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Sends one frame until the destination confirms it; throws when it refuses or is gone. */
async function sendFrame(
  t: Transfer,
  frame: Buffer,
  offset: number,
  signal: AbortSignal,
): Promise<void> {
  let last = '';
  let refused = false;
  for (let attempt = 1; attempt <= CHUNK_ATTEMPTS; attempt++) {
    if (attempt > 1) await sleep(t.retryDelayMs * 4 ** (attempt - 2), signal);
    if (signal.aborted) throw signal.reason;
    let ack: ChunkAck;
    try {
      ack = decodeAck(await t.bulk.request(t.subject, frame, t.chunkTimeoutMs));
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
      refused = false;
      continue;
    }
    if (ack.ok) return;
    if (!ack.retry) {
      throw new CopyFailedError(
        `chunk at ${offset} of transfer ${t.transferId} refused by ${t.destNode}: ${ack.error}`,
        t.transferId,
      );
    }
    last = ack.error;
    refused = true;
  }
  if (refused) {
    throw new CopyFailedError(
      `chunk at ${offset} of transfer ${t.transferId} refused by ${t.destNode} ${CHUNK_ATTEMPTS} times: ${last}`,
      t.transferId,
    );
  }
  throw new TransferLostError(
    `chunk at ${offset} of transfer ${t.transferId} not confirmed by ${t.destNode} after ${CHUNK_ATTEMPTS} sends: ${last}`,
  );
}

/**
 * Hashes the bytes before `from` (the destination has them), streams the rest with a window of
 * frames in flight, and resolves with the SHA-256 of the whole file once every frame is confirmed.
 */
async function stream(t: Transfer, from: number): Promise<string> {
  const whole = createHash('sha256');
  const scratch = Buffer.allocUnsafe(Math.min(t.chunkBytes, Math.max(from, 1)));
  for (let pos = 0; pos < from;) {
    const n = await readFull(
      t.handle,
      t.ctx.signal,
      scratch,
      0,
      Math.min(scratch.length, from - pos),
      pos,
    );
    if (n === 0) throw new CopyFailedError(`${t.source} shrank while being copied`, t.transferId);
    whole.update(scratch.subarray(0, n));
    pos += n;
  }
  // Ends the retries of frames still in flight when this round stops, for whatever reason.
  const round = new AbortController();
  const stop = (): void => round.abort(t.ctx.signal.reason);
  t.ctx.signal.addEventListener('abort', stop, { once: true });
  const inFlight: Promise<void>[] = [];
  // A frame is used again once answered (nats.js has sent it by then): no 1 MiB garbage per chunk.
  const free: Buffer[] = [];
  try {
    for (let offset = from; offset < t.size;) {
      if (t.ctx.signal.aborted) throw t.ctx.signal.reason;
      const length = Math.min(t.chunkBytes, t.size - offset);
      const buffer = free.pop() ?? allocFrame(t.chunkBytes);
      const frame = buffer.subarray(0, FRAME_HEADER_BYTES + length);
      if (
        (await readFull(t.handle, t.ctx.signal, frame, FRAME_HEADER_BYTES, length, offset)) < length
      ) {
        throw new CopyFailedError(`${t.source} shrank while being copied`, t.transferId);
      }
      whole.update(frame.subarray(FRAME_HEADER_BYTES));
      const sent = sendFrame(
        t,
        sealFrame(frame, t.key, t.transferId, offset),
        offset,
        round.signal,
      );
      inFlight.push(sent);
      // Awaited below, in order; a frame that failed is not used again.
      sent.then(() => free.push(buffer)).catch(() => undefined);
      offset += length;
      while (inFlight.length >= t.window) await inFlight.shift();
    }
    for (const sent of inFlight) await sent;
  } finally {
    t.ctx.signal.removeEventListener('abort', stop);
    round.abort();
  }
  return whole.digest('hex');
}

export function createCopyFileFrom(options: CopyFileOptions = {}): MethodHandler {
  async function run(ctx: MethodContext): Promise<MethodOutput> {
    const args = ctx.request.methodArgs;
    const expected = '[source path, destination node, destination path]';
    if (args.length !== 3 || args.some((a) => a === '')) return badArgs(ctx, expected);
    const [source, destNode, destPath] = args as [string, string, string];
    if (!NODE_NAME_PATTERN.test(destNode)) {
      return badArgs(ctx, `${expected} with a node name (1 to 64 of A-Z a-z 0-9 _ -) second`);
    }
    const services = ctx.services;
    if (!services?.bulk) return failure(new NoNodeServicesError(ctx.request.method));
    const bulk = services.bulk;
    if (!TRANSFER_ID.test(ctx.request.id)) return badArgs(ctx, 'a message with a plain id');
    const transferId = ctx.request.id;

    let handle: FileHandle;
    let real: string;
    try {
      real = await unlessAborted(
        resolveReadable(source, ctx.limits.readAllow, ctx.dataDir),
        ctx.signal,
      );
      // Only a regular file: a FIFO or a device would never end (regular-file.ts).
      handle = await openRegular(real, ctx.signal);
    } catch (err) {
      return failure(err, METHOD_ERROR_CODES.fileFailed);
    }
    const started = Date.now();
    let opened = false;
    try {
      const st = await unlessAborted(handle.stat(), ctx.signal);
      const t: Transfer = {
        ctx,
        services,
        bulk,
        source,
        destNode,
        destPath,
        transferId,
        handle,
        size: st.size,
        key: randomBytes(32),
        subject: bulk.subject(destNode, transferId),
        chunkBytes: Math.max(
          1,
          Math.min(
            options.chunkBytes ?? DEFAULT_CHUNK_BYTES,
            bulk.maxPayload() - FRAME_HEADER_BYTES,
          ),
        ),
        window: Math.max(1, options.window ?? DEFAULT_WINDOW),
        chunkTimeoutMs: options.chunkTimeoutMs ?? DEFAULT_CHUNK_TIMEOUT_MS,
        retryDelayMs: options.retryDelayMs ?? 100,
      };
      let digest = '';
      let resumedAt = 0;
      let streamStarted = 0;
      for (let round = 1; ; round++) {
        const from = await openAtDestination(t);
        opened = true;
        if (round === 1) resumedAt = from;
        streamStarted = Date.now();
        try {
          digest = await stream(t, from);
          break;
        } catch (err) {
          if (!(err instanceof TransferLostError)) throw err;
          if (round >= REOPEN_ATTEMPTS) {
            throw new CopyFailedError(`${err.message}; gave up after ${round} opens`, transferId, {
              cause: err,
            });
          }
          ctx.log('warn', 'copy transfer lost at the destination; opening it again', {
            transferId,
            destNode,
            error: err.message,
          });
        }
      }
      const streamed = Date.now();
      const commit = sendStep(t, [Step.commit, transferId, String(t.size), digest]);
      const written = await confirmed(t, commit, 'commit');
      const now = Date.now();
      const seconds = (now - started) / 1000;
      // Where the time went: the durable open, the bulk stream, the durable commit (hash, sync).
      const phases = [streamStarted - started, streamed - streamStarted, now - streamed]
        .map((ms) => (ms / 1000).toFixed(3))
        .join(' + ');
      const chunks = Math.ceil(t.size / t.chunkBytes);
      ctx.log('info', 'file copied', { source: real, destNode, destPath, bytes: t.size, seconds });
      const resumed = resumedAt > 0 ? `, resumed at ${resumedAt}` : '';
      return {
        status: MethodStatus.ok,
        data: `copied ${ctx.nodeName}:${real} (${t.size} bytes, ${chunks} chunks${resumed}, sha256 ${digest}) to ${destNode}:${destPath} in ${seconds.toFixed(3)} s (open + stream + commit: ${phases} s)\n${written}`,
      };
    } catch (err) {
      // The destination drops what it has of this transfer; nothing reaches the final name.
      if (opened) {
        try {
          sendStep({ ctx, services, source, destNode, destPath, transferId }, [
            Step.abort,
            transferId,
          ]);
        } catch (abortErr) {
          ctx.log('warn', 'cannot tell the destination to drop the transfer', {
            error: String(abortErr),
          });
        }
      }
      if (ctx.signal.aborted) {
        return {
          status: abortStatus(ctx.signal),
          data: '',
          error: abortMessage(
            ctx,
            `copy of ${source} to ${destNode} stopped; nothing was renamed into place`,
          ),
        };
      }
      return failure(err, METHOD_ERROR_CODES.copyFailed);
    } finally {
      // Not awaited: a close on a stalled file system must not hold the method's end.
      handle.close().catch(() => undefined);
    }
  }

  return {
    name: 'REQCopyFileFrom',
    kind: MethodKind.request,
    privileged: true,
    // Run again after a crash: the same transfer id resumes from what the destination holds.
    idempotent: true,
    run,
    recover: run,
  };
}

// ---------------------------------------------------------------------------------------------
// Destination side: REQCopyFileTo

async function dropIncoming(dataDir: string, transferId: string): Promise<void> {
  const key = incomingKey(dataDir, transferId);
  const t = incoming.get(key);
  incoming.delete(key);
  await t?.close();
  await dropFiles(dataDir, transferId);
}

/** `open`: checks the destination, opens the part file and serves the transfer's bulk subject. */
async function openTransfer(ctx: MethodContext, args: readonly string[]): Promise<MethodOutput> {
  const [, , destPath, , transferId, sizeText, keyText] = args as string[];
  const size = Number(sizeText);
  if (
    args.length !== 7 ||
    !TRANSFER_ID.test(transferId ?? '') ||
    !/^\d+$/.test(sizeText ?? '') ||
    !Number.isSafeInteger(size) ||
    !KEY_TEXT.test(keyText ?? '')
  ) {
    return badArgs(ctx, '[source, node, destination, "open", transfer id, size, key]');
  }
  const bulk = ctx.services?.bulk;
  if (!bulk) return failure(new NoNodeServicesError(ctx.request.method));
  const id = transferId!;
  const key = Buffer.from(keyText!, 'base64url');
  try {
    // The destination is checked before anything is written, not even a part file.
    await destinationFile(ctx.dataDir, destPath!, false, ctx.limits.statePaths);
  } catch (err) {
    return failure(err, METHOD_ERROR_CODES.fileFailed);
  }
  try {
    const k = incomingKey(ctx.dataDir, id);
    let t = incoming.get(k);
    if (t && t.size !== size) {
      await dropIncoming(ctx.dataDir, id);
      t = undefined;
    }
    if (t) {
      t.rekey(key);
    } else {
      await mkdir(join(ctx.dataDir, 'copy'), { recursive: true, mode: 0o700 });
      t = await IncomingTransfer.open(ctx.dataDir, id, size, key, () => {
        ctx.log('warn', 'copy transfer idle too long; dropped', { transferId: id });
        void dropIncoming(ctx.dataDir, id);
      });
      incoming.set(k, t);
    }
    t.serve(bulk, bulk.subject(ctx.nodeName, id));
    return { status: MethodStatus.ok, data: `resume ${t.contiguous}\n` };
  } catch (err) {
    await dropIncoming(ctx.dataDir, id);
    return failure(err, METHOD_ERROR_CODES.fileFailed);
  }
}

/** SHA-256 of [0, size) of an open file. */
async function hashHandle(handle: FileHandle, size: number, signal: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(1024 * 1024);
  let pos = 0;
  while (pos < size) {
    if (signal.aborted) throw signal.reason;
    const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, size - pos), pos);
    if (bytesRead === 0) break;
    h.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return h.digest('hex');
}

/** `commit`: the whole file's hash must match; then sync, rename, and sync the directory. */
async function commit(ctx: MethodContext, args: readonly string[]): Promise<MethodOutput> {
  const [, , destPath, , transferId, sizeText, hash] = args as string[];
  const size = Number(sizeText);
  if (
    args.length !== 7 ||
    !TRANSFER_ID.test(transferId ?? '') ||
    !/^\d+$/.test(sizeText ?? '') ||
    !Number.isSafeInteger(size) ||
    !SHA256_HEX.test(hash ?? '')
  ) {
    return badArgs(ctx, '[source, node, destination, "commit", transfer id, size, sha256]');
  }
  const id = transferId!;
  const part = partFile(ctx.dataDir, id);
  try {
    const target = await destinationFile(ctx.dataDir, destPath!, true, ctx.limits.statePaths);
    const k = incomingKey(ctx.dataDir, id);
    const t = incoming.get(k);
    incoming.delete(k);
    // The hash of what was written, taken as it arrived; read back only after a resume.
    const running = await t?.close();
    let digest = t?.size === size ? running : undefined;
    let handle: FileHandle;
    try {
      handle = await open(part, constants.O_RDWR | constants.O_NOFOLLOW);
    } catch (err) {
      // A commit run again after a crash that followed its rename: the file is already in place.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && (await fileHash(target)) === hash) {
        return {
          status: MethodStatus.ok,
          data: `wrote ${size} bytes (sha256 ${hash}) to ${ctx.nodeName}:${target}\n`,
        };
      }
      throw err;
    }
    try {
      await handle.truncate(size);
      digest ??= await hashHandle(handle, size, ctx.signal);
      if (digest === hash) await handle.sync();
    } finally {
      await handle.close();
    }
    if (digest !== hash) {
      await dropFiles(ctx.dataDir, id);
      return failure(
        new CopyFailedError(
          `transfer ${id}: expected the whole file's sha256 to be ${hash}, got ${digest}; nothing was written to ${destPath}`,
          id,
        ),
      );
    }
    await rename(part, target);
    await rm(stateFile(ctx.dataDir, id), { force: true });
    await syncDirectory(dirname(target));
    return {
      status: MethodStatus.ok,
      data: `wrote ${size} bytes (sha256 ${digest}) to ${ctx.nodeName}:${target}\n`,
    };
  } catch (err) {
    await dropFiles(ctx.dataDir, id);
    if (ctx.signal.aborted) {
      return {
        status: abortStatus(ctx.signal),
        data: '',
        error: abortMessage(ctx, 'commit stopped'),
      };
    }
    return failure(err, METHOD_ERROR_CODES.fileFailed);
  }
}

/** Makes a rename durable (POSIX: the directory entry is data of the directory). */
async function syncDirectory(path: string): Promise<void> {
  const dir = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

async function fileHash(path: string): Promise<string | undefined> {
  try {
    const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const h = createHash('sha256');
      for await (const chunk of handle.createReadStream({ highWaterMark: 1024 * 1024 })) {
        h.update(chunk as Buffer);
      }
      return h.digest('hex');
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}

/** Steward's REQCopyFileTo: three methodArgs and the whole content in `data`. */
async function writeWhole(ctx: MethodContext, destPath: string): Promise<MethodOutput> {
  const id = ctx.request.id;
  if (!TRANSFER_ID.test(id)) return badArgs(ctx, 'a message with a plain id');
  const part = partFile(ctx.dataDir, id);
  try {
    const target = await destinationFile(ctx.dataDir, destPath, true, ctx.limits.statePaths);
    await mkdir(join(ctx.dataDir, 'copy'), { recursive: true, mode: 0o700 });
    const handle = await open(
      part,
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      await handle.writeFile(ctx.request.data ?? '');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(part, target);
    return { status: MethodStatus.ok, data: `wrote ${ctx.nodeName}:${target}\n` };
  } catch (err) {
    await rm(part, { force: true });
    return failure(err, METHOD_ERROR_CODES.fileFailed);
  }
}

async function runCopyTo(ctx: MethodContext): Promise<MethodOutput> {
  const args = ctx.request.methodArgs;
  const [, destNode, destPath, step, transferId] = args;
  if (args.length < 3 || destPath === undefined || destPath === '') {
    return badArgs(ctx, '[source path, destination node, destination path, …transfer step]');
  }
  if (destNode !== ctx.nodeName) {
    return badArgs(
      ctx,
      `[source path, ${ctx.nodeName}, destination path]: this copy is for ${destNode}`,
    );
  }
  switch (step) {
    case undefined:
      return writeWhole(ctx, destPath);
    case Step.open:
      return openTransfer(ctx, args);
    case Step.commit:
      return commit(ctx, args);
    case Step.abort:
      if (!TRANSFER_ID.test(transferId ?? '')) return badArgs(ctx, '[…, "abort", transfer id]');
      await dropIncoming(ctx.dataDir, transferId!);
      return { status: MethodStatus.ok, data: `dropped transfer ${transferId}\n` };
    default:
      return badArgs(ctx, '[…, "open" | "commit" | "abort", …]');
  }
}

export const copyFileFrom: MethodHandler = createCopyFileFrom();

export const copyFileTo: MethodHandler = {
  name: 'REQCopyFileTo',
  kind: MethodKind.request,
  privileged: true,
  // Every step is safe to repeat: an open resumes, a commit checks the hash, an abort drops.
  idempotent: true,
  run: runCopyTo,
  recover: runCopyTo,
};
