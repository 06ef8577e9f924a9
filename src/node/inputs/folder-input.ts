import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Input, Submit } from './types.js';
import { MAX_SUBMISSION_BYTES, refusedInput } from './types.js';

const MESSAGE_FILE = /\.(json|ya?ml)$/i;
const POLL_MS = 500;

/**
 * Steward's `readFolder`: message files dropped in the folder are submitted, then removed.
 * A file is taken once its size stopped changing between two looks, so a writer that is still
 * writing is not read half-way. Rejected files move to `rejected/` with an `.errors.txt` beside.
 */
export async function startFolderInput(folder: string, submit: Submit): Promise<Input> {
  mkdirSync(folder, { recursive: true });
  const rejectedDir = join(folder, 'rejected');
  const seen = new Map<string, number>();
  const inFlight = new Set<string>();
  let closed = false;

  const scan = (): void => {
    if (closed) return;
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      return;
    }
    for (const name of names) {
      if (!MESSAGE_FILE.test(name) || inFlight.has(name)) continue;
      const path = join(folder, name);
      let size: number;
      try {
        const st = statSync(path);
        if (!st.isFile()) continue;
        size = st.size;
      } catch {
        continue;
      }
      if (seen.get(name) !== size) {
        seen.set(name, size);
        continue;
      }
      seen.delete(name);
      inFlight.add(name);
      void take(name, path, size).finally(() => inFlight.delete(name));
    }
  };

  const take = async (name: string, path: string, size: number): Promise<void> => {
    let raw: Buffer;
    try {
      raw = size > MAX_SUBMISSION_BYTES ? Buffer.alloc(0) : readFileSync(path);
    } catch {
      return;
    }
    const result =
      size > MAX_SUBMISSION_BYTES
        ? refusedInput(`file larger than ${MAX_SUBMISSION_BYTES} bytes`)
        : await submit(raw, `folder:${name}`).catch((err: unknown) =>
            refusedInput(err instanceof Error ? err.message : String(err)),
          );
    try {
      if (result.rejected.length === 0) {
        unlinkSync(path);
        return;
      }
      mkdirSync(rejectedDir, { recursive: true });
      renameSync(path, join(rejectedDir, name));
      const lines = result.rejected.map((r) => `message ${r.index}: ${r.errors.join('; ')}`);
      writeFileSync(join(rejectedDir, `${name}.errors.txt`), `${lines.join('\n')}\n`);
    } catch {
      // The file went away or the folder is not writable: the next scan looks again.
    }
  };

  const watcher = watch(folder, () => scan());
  watcher.on('error', () => undefined);
  const timer = setInterval(scan, POLL_MS);
  timer.unref();
  scan();
  return {
    name: 'folder',
    address: folder,
    close: async () => {
      closed = true;
      clearInterval(timer);
      watcher.close();
    },
  };
}
