// REQTailFile: follow the file in methodArgs[0] and stream each new line (from the end of the
// file at start, like `tail -f`) until methodTimeout, which is its normal end as in Steward.
// Survives rotation (the name now points at another file: finish the old one, reopen by name)
// and truncation (the size shrank: read again from 0). Reads only under paths.readAllow.

import { type FileHandle, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { LineSplitter } from './cli-command-cont.js';
import { BadMethodArgsError, METHOD_ERROR_CODES } from './errors.js';
import { abortStatus, cutUtf8, failure, sleep, truncationNote } from './output.js';
import { openRegular, unlessAborted } from './regular-file.js';
import { resolveReadable } from './safe-path.js';
import {
  type MethodContext,
  type MethodHandler,
  MethodKind,
  type MethodOutput,
  MethodStatus,
} from './types.js';

export interface TailFileOptions {
  /** How often the file is checked for new data, rotation and truncation; default 250 ms. */
  readonly pollMs?: number;
}

interface Followed {
  handle: FileHandle;
  ino: number;
  dev: number;
  pos: number;
}

// Every await on the file is bounded by the signal: a stalled file system ends the tail at its
// methodTimeout like any other (the stuck call itself finishes, or not, on libuv's thread).
async function openFollowed(path: string, atEnd: boolean, signal: AbortSignal): Promise<Followed> {
  const handle = await openRegular(path, signal);
  try {
    const st = await unlessAborted(handle.stat(), signal);
    return { handle, ino: st.ino, dev: st.dev, pos: atEnd ? st.size : 0 };
  } catch (err) {
    void handle.close().catch(() => undefined);
    throw err;
  }
}

/** Closes without waiting: a close on a stalled file system must not hold the method's end. */
function closeLater(handle: FileHandle): void {
  handle.close().catch(() => undefined);
}

export function createTailFile(options: TailFileOptions = {}): MethodHandler {
  const pollMs = options.pollMs ?? 250;

  async function run(ctx: MethodContext): Promise<MethodOutput> {
    const { request, limits } = ctx;
    const target = request.methodArgs[0];
    if (target === undefined || target === '') {
      return failure(
        new BadMethodArgsError(
          `Expected methodArgs to be [path of the file to follow], got ${JSON.stringify(request.methodArgs)}`,
          request.method,
        ),
      );
    }
    // Rotation is seen through the name the message gave (it may be a symlink to the real file).
    const named = isAbsolute(target) ? target : resolve(ctx.dataDir, target);
    let real: string;
    let file: Followed;
    try {
      real = await unlessAborted(
        resolveReadable(target, limits.readAllow, ctx.dataDir),
        ctx.signal,
      );
      file = await openFollowed(real, true, ctx.signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return failure(
          new Error(`Expected a file to follow at ${named}, found none`, { cause: err }),
          METHOD_ERROR_CODES.fileFailed,
        );
      }
      return failure(err, METHOD_ERROR_CODES.fileFailed);
    }

    const cap = limits.maxOutputBytes;
    let sent = 0;
    let truncated = false;
    const splitter = new LineSplitter();
    const emit = (line: string): void => {
      if (truncated) return;
      const bytes = Buffer.byteLength(line);
      if (sent + bytes > cap) {
        if (cap > sent) ctx.emit({ data: cutUtf8(Buffer.from(line), cap - sent).toString('utf8') });
        sent = cap;
        truncated = true;
        return;
      }
      sent += bytes;
      ctx.emit({ data: line });
    };
    const buf = Buffer.alloc(64 * 1024);
    const drain = async (f: Followed, signal: AbortSignal): Promise<void> => {
      for (;;) {
        const { bytesRead } = await unlessAborted(f.handle.read(buf, 0, buf.length, f.pos), signal);
        if (bytesRead === 0) return;
        f.pos += bytesRead;
        for (const line of splitter.push(buf.subarray(0, bytesRead))) emit(line);
        if (splitter.pending > cap) emit(splitter.flush() ?? '');
        if (truncated) return;
      }
    };

    const signal = ctx.signal;
    try {
      while (!signal.aborted && !truncated) {
        const { size } = await unlessAborted(file.handle.stat(), signal);
        if (size < file.pos) {
          ctx.log('info', 'followed file was truncated; reading from its start', { path: real });
          file.pos = 0;
          splitter.flush();
        }
        await drain(file, signal);
        // Rotation: the name now leads to another file (or to none yet).
        let byName: Awaited<ReturnType<typeof stat>> | undefined;
        try {
          byName = await unlessAborted(stat(named), signal);
        } catch {
          byName = undefined; // renamed away; the new file has not been created yet
        }
        if (byName && (byName.ino !== file.ino || byName.dev !== file.dev)) {
          await drain(file, signal); // what was written to the old file before it was replaced
          const rest = splitter.flush();
          if (rest !== undefined) emit(rest);
          try {
            // The name is checked again: a rotated-in symlink must not lead outside readAllow.
            const again = await unlessAborted(
              resolveReadable(target, limits.readAllow, ctx.dataDir),
              signal,
            );
            const next = await openFollowed(again, false, signal);
            closeLater(file.handle);
            file = next;
            real = again;
            ctx.log('info', 'followed file was replaced; following the new one', { path: real });
          } catch (err) {
            if (signal.aborted) break;
            closeLater(file.handle);
            const out = failure(err, METHOD_ERROR_CODES.fileFailed);
            return { ...out, data: truncated ? truncationNote(cap) : '' };
          }
          continue;
        }
        await sleep(pollMs, signal);
      }
    } catch (err) {
      if (!signal.aborted) {
        closeLater(file.handle);
        return failure(err, METHOD_ERROR_CODES.fileFailed);
      }
    }
    try {
      // What came in last, for at most a second more: the tail has already reached its end.
      if (!truncated) await drain(file, AbortSignal.timeout(1000));
    } catch {
      // a file that stalls now loses its last lines, not the method its end
    }
    const rest = splitter.flush();
    if (rest !== undefined) emit(rest);
    closeLater(file.handle);
    if (truncated) {
      return { status: MethodStatus.ok, data: truncationNote(cap), truncated: true };
    }
    // methodTimeout is how a tail ends (Steward: "Uses the methodTimeout to define for how long").
    const status =
      abortStatus(ctx.signal) === MethodStatus.timeout ? MethodStatus.ok : MethodStatus.cancelled;
    return {
      status,
      data: '',
      ...(status === MethodStatus.cancelled ? { error: 'cancelled' } : {}),
    };
  }

  return { name: 'REQTailFile', kind: MethodKind.stream, privileged: true, run };
}

export const tailFile: MethodHandler = createTailFile();
