// Opening a file a message named, for reading: only a regular file is read. A FIFO opened the
// usual way blocks open() until a writer comes, holding one of libuv's four I/O threads for good
// (a dozen such tails stalled every later read on a node); a device or a socket never ends or never
// opens. So the path is opened with O_NONBLOCK (a FIFO opens at once) and O_NOFOLLOW, and the
// opened handle is checked with fstat, not the path, so a file swapped in after a check is caught.

import type { Stats } from 'node:fs';
import { constants } from 'node:fs';
import { type FileHandle, lstat, open } from 'node:fs/promises';
import { NotRegularFileError } from './errors.js';

/** What a file is, as an error names it ("a FIFO"); undefined for a regular file. */
export function fileType(
  st: Pick<
    Stats,
    | 'isFile'
    | 'isFIFO'
    | 'isSocket'
    | 'isCharacterDevice'
    | 'isBlockDevice'
    | 'isDirectory'
    | 'isSymbolicLink'
  >,
): string | undefined {
  if (st.isFile()) return undefined;
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symlink';
  return 'not a file';
}

/** The reason a signal aborted, as an error to reject with. */
function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error(String(reason ?? 'aborted'));
}

/**
 * `op`, or a rejection as soon as `signal` aborts, whichever comes first: a file system that
 * stalls (a hung NFS mount) cannot hold a method past its methodTimeout. A result that arrives
 * after the abort goes to `late` (to close a handle nobody will use).
 */
export function unlessAborted<T>(
  op: Promise<T>,
  signal: AbortSignal | undefined,
  late?: (value: T) => unknown,
): Promise<T> {
  if (signal === undefined) return op;
  if (signal.aborted) {
    op.then((v) => late?.(v)).catch(() => undefined);
    return Promise.reject(abortError(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      op.then((v) => late?.(v)).catch(() => undefined);
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    op.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return;
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Opens `path` (a real path, symlinks already resolved and checked) read-only, and returns the
 * handle only if it is a regular file. Throws NotRegularFileError naming the path and its type,
 * the fs error (ENOENT, ELOOP for a symlink swapped in), or the abort reason of `signal`.
 */
export async function openRegular(path: string, signal?: AbortSignal): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await unlessAborted(
      open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW),
      signal,
      (h) => h.close(),
    );
  } catch (err) {
    // A unix socket cannot be opened at all (ENXIO); name what is there rather than the errno.
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') {
      const st = await lstat(path).catch(() => undefined);
      const type = st && fileType(st);
      if (type !== undefined) throw new NotRegularFileError(path, type, { cause: err });
    }
    throw err;
  }
  try {
    const st = await unlessAborted(handle.stat(), signal);
    const type = fileType(st);
    if (type !== undefined) throw new NotRegularFileError(path, type);
    return handle;
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Opens `path` inside the data dir (checked by resolveInside) for appending, creating it with
 * `mode` when missing, and returns the handle only if it is a regular file: a FIFO found there
 * would block open() until a reader came (O_NONBLOCK: ENXIO instead), a device would swallow it.
 */
export async function openRegularForAppend(path: string, mode: number): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(
      path,
      constants.O_WRONLY |
        constants.O_CREAT |
        constants.O_APPEND |
        constants.O_NOFOLLOW |
        constants.O_NONBLOCK,
      mode,
    );
  } catch (err) {
    // A FIFO with no reader, or a socket, cannot be opened for writing without blocking (ENXIO).
    if ((err as NodeJS.ErrnoException).code === 'ENXIO') {
      const st = await lstat(path).catch(() => undefined);
      const type = st && fileType(st);
      if (type !== undefined)
        throw new NotRegularFileError(path, type, { cause: err, written: true });
    }
    throw err;
  }
  try {
    const type = fileType(await handle.stat());
    if (type !== undefined) throw new NotRegularFileError(path, type, { written: true });
    return handle;
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
}
