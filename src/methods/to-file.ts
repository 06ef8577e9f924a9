// REQToFile and REQToFileAppend: write the data of a reply (the output of the request it answers,
// as Steward writes the reply message's data) to <dataDir>/<directory>/<fileName>. An absolute
// directory is taken relative to the data dir; paths that could lead outside are refused and
// nothing is written (safe-path.ts).

import { constants } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { METHOD_ERROR_CODES } from './errors.js';
import { failure } from './output.js';
import { openRegularForAppend } from './regular-file.js';
import { resolveInside } from './safe-path.js';
import {
  type MethodContext,
  type MethodHandler,
  MethodKind,
  type MethodOutput,
  MethodStatus,
} from './types.js';

/**
 * Resolves and creates the target's directory, then resolves again: a symlink swapped in while
 * the directories were created is caught before anything is written.
 */
async function prepareTarget(ctx: MethodContext): Promise<string> {
  const { directory, fileName } = ctx.request;
  const first = await resolveInside(ctx.dataDir, directory, fileName, ctx.limits.statePaths);
  await mkdir(dirname(first), { recursive: true, mode: 0o750 });
  return resolveInside(ctx.dataDir, directory, fileName, ctx.limits.statePaths);
}

async function writeReplace(ctx: MethodContext): Promise<MethodOutput> {
  let written: string | undefined;
  try {
    const target = await prepareTarget(ctx);
    // Write beside the target, then rename over it: a reader never sees a half-written file.
    const tmp = `${target}.tmp-${ctx.request.id}-${process.pid}`;
    written = tmp;
    const handle = await open(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o640,
    );
    try {
      await handle.writeFile(ctx.request.data ?? '');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, target);
    written = undefined;
    return { status: MethodStatus.ok, data: '' };
  } catch (err) {
    if (written) await rm(written, { force: true });
    return failure(err, METHOD_ERROR_CODES.fileFailed);
  }
}

async function writeAppend(ctx: MethodContext): Promise<MethodOutput> {
  try {
    const target = await prepareTarget(ctx);
    const handle = await openRegularForAppend(target, 0o640);
    try {
      await handle.write(ctx.request.data ?? '');
    } finally {
      await handle.close();
    }
    return { status: MethodStatus.ok, data: '' };
  } catch (err) {
    return failure(err, METHOD_ERROR_CODES.fileFailed);
  }
}

export const toFile: MethodHandler = {
  name: 'REQToFile',
  kind: MethodKind.reply,
  idempotent: true,
  run: writeReplace,
};

export const toFileAppend: MethodHandler = {
  name: 'REQToFileAppend',
  kind: MethodKind.reply,
  run: writeAppend,
};
