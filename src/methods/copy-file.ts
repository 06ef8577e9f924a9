// REQCopyFileFrom and REQCopyFileTo: copy a file from one node to another (Steward, seed 003:
// "Source node to copy from is specified in the toNode/toNodes field"; methodArgs
// [source path, destination node, destination path]).
//
// REQCopyFileFrom runs on the source node. It streams the file (never holding more than a window of
// chunks) and sends each chunk to the destination as its own durable REQCopyFileTo message, with
// the chunk's SHA-256; at most `window` chunks are unconfirmed at a time. When every chunk is
// written it sends a commit carrying the size and the SHA-256 of the whole file, and answers once
// the destination confirmed it.
//
// REQCopyFileTo runs on the destination. Chunks are checked against their hash and written at
// their offset into <dataDir>/copy/<transfer id>.part; the commit hashes that file again, and only
// when the whole-file hash matches is it synced and renamed to the destination path (inside the
// data dir: an absolute path is taken relative to it, as Steward's `directory` is). A copy that
// fails or is cancelled removes the part file; one cut by a crash is resumed by running it again
// (chunks are idempotent writes at an offset) and never leaves a half file under the final name.
// Steward's own REQCopyFileTo (three methodArgs, the content in `data`) is accepted too.

import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { NODE_NAME_PATTERN } from '../protocol/node-name.js';
import {
  BadMethodArgsError,
  CopyFailedError,
  METHOD_ERROR_CODES,
  NoNodeServicesError,
} from './errors.js';
import { sentOutput, waitForSent } from './node-wait.js';
import { abortMessage, abortStatus, failure } from './output.js';
import { resolveInside, resolveReadable } from './safe-path.js';
import {
  type MethodContext,
  type MethodHandler,
  MethodKind,
  type MethodOutput,
  MethodStatus,
  type NodeServices,
} from './types.js';

/** 512 KiB: its base64 (≈700 kB) and the envelope fit NATS's default 1 MiB max_payload. */
export const DEFAULT_CHUNK_BYTES = 512 * 1024;
/** Chunks sent and not yet confirmed written, at most. */
export const DEFAULT_WINDOW = 8;

export interface CopyFileOptions {
  readonly chunkBytes?: number;
  readonly window?: number;
}

/** The transfer step a REQCopyFileTo message carries, after Steward's three methodArgs. */
const Step = { chunk: 'chunk', commit: 'commit', abort: 'abort' } as const;

const TRANSFER_ID = /^[A-Za-z0-9_-]{1,128}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

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
async function destinationFile(dataDir: string, path: string, create: boolean): Promise<string> {
  const { directory, fileName } = destinationParts(path);
  const first = await resolveInside(dataDir, directory, fileName);
  if (!create) return first;
  await mkdir(dirname(first), { recursive: true, mode: 0o750 });
  // Again: a symlink swapped in while the directories were made is caught before writing.
  return resolveInside(dataDir, directory, fileName);
}

function partFile(dataDir: string, transferId: string): string {
  return join(dataDir, 'copy', `${transferId}.part`);
}

// ---------------------------------------------------------------------------------------------
// Source side: REQCopyFileFrom

interface Transfer {
  readonly ctx: MethodContext;
  readonly services: NodeServices;
  readonly source: string;
  readonly destNode: string;
  readonly destPath: string;
  readonly transferId: string;
}

/** Sends one REQCopyFileTo step to the destination; returns its message id. */
function sendStep(t: Transfer, step: string[], data?: string): string {
  const { ctx } = t;
  const result = t.services.submit([
    {
      toNode: t.destNode,
      method: 'REQCopyFileTo',
      methodArgs: [t.source, t.destNode, t.destPath, ...step],
      ...(data !== undefined && { data: [data] }),
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

export function createCopyFileFrom(options: CopyFileOptions = {}): MethodHandler {
  const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const window = options.window ?? DEFAULT_WINDOW;

  async function run(ctx: MethodContext): Promise<MethodOutput> {
    const args = ctx.request.methodArgs;
    const expected = '[source path, destination node, destination path]';
    if (args.length !== 3 || args.some((a) => a === '')) return badArgs(ctx, expected);
    const [source, destNode, destPath] = args as [string, string, string];
    if (!NODE_NAME_PATTERN.test(destNode)) {
      return badArgs(ctx, `${expected} with a node name (1 to 64 of A-Z a-z 0-9 _ -) second`);
    }
    const services = ctx.services;
    if (!services) return failure(new NoNodeServicesError(ctx.request.method));
    if (!TRANSFER_ID.test(ctx.request.id)) return badArgs(ctx, 'a message with a plain id');
    const t: Transfer = { ctx, services, source, destNode, destPath, transferId: ctx.request.id };

    let handle: Awaited<ReturnType<typeof open>>;
    let real: string;
    try {
      real = await resolveReadable(source, ctx.limits.readAllow, ctx.dataDir);
      handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      return failure(err, METHOD_ERROR_CODES.fileFailed);
    }
    const started = Date.now();
    let sentAny = false;
    try {
      const st = await handle.stat();
      if (!st.isFile()) {
        return failure(new CopyFailedError(`Expected ${real} to be a regular file`, t.transferId));
      }
      const whole = createHash('sha256');
      const inFlight: { id: string; index: number }[] = [];
      let offset = 0;
      let index = 0;
      // An empty file is still one (empty) chunk: the destination checks its path on the first.
      do {
        const buf = Buffer.allocUnsafe(chunkBytes);
        const { bytesRead } = await handle.read(buf, 0, chunkBytes, offset);
        const chunk = buf.subarray(0, bytesRead);
        whole.update(chunk);
        while (inFlight.length >= window) {
          const oldest = inFlight.shift()!;
          await confirmed(t, oldest.id, `chunk ${oldest.index}`);
        }
        if (ctx.signal.aborted) throw ctx.signal.reason;
        const step = [Step.chunk, t.transferId, String(index), String(offset), sha256(chunk)];
        inFlight.push({ id: sendStep(t, step, chunk.toString('base64')), index });
        sentAny = true;
        offset += bytesRead;
        index += 1;
        if (bytesRead < chunkBytes) break;
      } while (offset < st.size || index === 0);
      for (const f of inFlight) await confirmed(t, f.id, `chunk ${f.index}`);
      const digest = whole.digest('hex');
      const commit = sendStep(t, [
        Step.commit,
        t.transferId,
        String(index),
        String(offset),
        digest,
      ]);
      const written = await confirmed(t, commit, 'commit');
      const seconds = (Date.now() - started) / 1000;
      ctx.log('info', 'file copied', { source: real, destNode, destPath, bytes: offset, seconds });
      return {
        status: MethodStatus.ok,
        data: `copied ${ctx.nodeName}:${real} (${offset} bytes, ${index} chunks, sha256 ${digest}) to ${destNode}:${destPath} in ${seconds.toFixed(3)} s\n${written}`,
      };
    } catch (err) {
      // The destination drops what it has of this transfer; nothing reaches the final name.
      if (sentAny) {
        try {
          sendStep(t, [Step.abort, t.transferId]);
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
      await handle.close();
    }
  }

  return {
    name: 'REQCopyFileFrom',
    kind: MethodKind.request,
    privileged: true,
    // Run again after a crash: the same transfer id writes the same part file at the destination.
    idempotent: true,
    run,
    recover: run,
  };
}

// ---------------------------------------------------------------------------------------------
// Destination side: REQCopyFileTo

async function writeChunk(ctx: MethodContext, args: readonly string[]): Promise<MethodOutput> {
  const [, , destPath, , transferId, indexText, offsetText, hash] = args as string[];
  const offset = Number(offsetText);
  if (
    args.length !== 8 ||
    !TRANSFER_ID.test(transferId ?? '') ||
    !/^\d+$/.test(indexText ?? '') ||
    !Number.isSafeInteger(offset) ||
    offset < 0 ||
    !SHA256_HEX.test(hash ?? '')
  ) {
    return badArgs(ctx, '[source, node, destination, "chunk", transfer id, index, offset, sha256]');
  }
  const data = Buffer.from(ctx.request.data ?? '', 'base64');
  if (sha256(data) !== hash) {
    return failure(
      new CopyFailedError(
        `chunk ${indexText} of transfer ${transferId}: expected sha256 ${hash}, got ${sha256(data)} (${data.length} bytes)`,
        transferId!,
      ),
    );
  }
  try {
    // The destination is checked on every chunk, before the part file is touched.
    await destinationFile(ctx.dataDir, destPath!, false);
    await mkdir(join(ctx.dataDir, 'copy'), { recursive: true, mode: 0o700 });
    const handle = await open(
      partFile(ctx.dataDir, transferId!),
      constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await handle.write(data, done, data.length - done, offset + done);
        done += bytesWritten;
      }
    } finally {
      await handle.close();
    }
  } catch (err) {
    return failure(err, METHOD_ERROR_CODES.fileFailed);
  }
  return { status: MethodStatus.ok, data: '' };
}

async function commit(ctx: MethodContext, args: readonly string[]): Promise<MethodOutput> {
  const [, , destPath, , transferId, chunksText, sizeText, hash] = args as string[];
  const size = Number(sizeText);
  if (
    args.length !== 8 ||
    !TRANSFER_ID.test(transferId ?? '') ||
    !/^\d+$/.test(chunksText ?? '') ||
    !Number.isSafeInteger(size) ||
    size < 0 ||
    !SHA256_HEX.test(hash ?? '')
  ) {
    return badArgs(ctx, '[source, node, destination, "commit", transfer id, chunks, size, sha256]');
  }
  const part = partFile(ctx.dataDir, transferId!);
  try {
    const target = await destinationFile(ctx.dataDir, destPath!, true);
    let handle: Awaited<ReturnType<typeof open>>;
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
    let digest: string;
    try {
      await handle.truncate(size);
      const h = createHash('sha256');
      const buf = Buffer.allocUnsafe(1024 * 1024);
      let pos = 0;
      while (pos < size) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        const { bytesRead } = await handle.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break;
        h.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
      digest = h.digest('hex');
      if (digest === hash) await handle.sync();
    } finally {
      await handle.close();
    }
    if (digest !== hash) {
      await rm(part, { force: true });
      return failure(
        new CopyFailedError(
          `transfer ${transferId}: expected the whole file's sha256 to be ${hash}, got ${digest}; nothing was written to ${destPath}`,
          transferId!,
        ),
      );
    }
    await rename(part, target);
    return {
      status: MethodStatus.ok,
      data: `wrote ${size} bytes (sha256 ${digest}) to ${ctx.nodeName}:${target}\n`,
    };
  } catch (err) {
    await rm(part, { force: true });
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
    const target = await destinationFile(ctx.dataDir, destPath, true);
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
    case Step.chunk:
      return writeChunk(ctx, args);
    case Step.commit:
      return commit(ctx, args);
    case Step.abort:
      if (!TRANSFER_ID.test(transferId ?? '')) return badArgs(ctx, '[…, "abort", transfer id]');
      await rm(partFile(ctx.dataDir, transferId!), { force: true });
      return { status: MethodStatus.ok, data: `dropped transfer ${transferId}\n` };
    default:
      return badArgs(ctx, '[…, "chunk" | "commit" | "abort", …]');
  }
}

export const copyFileFrom: MethodHandler = createCopyFileFrom();

export const copyFileTo: MethodHandler = {
  name: 'REQCopyFileTo',
  kind: MethodKind.request,
  privileged: true,
  // Every step is safe to repeat: a chunk is a write at an offset, a commit checks the hash.
  idempotent: true,
  run: runCopyTo,
  recover: runCopyTo,
};
