import { readdir } from 'node:fs/promises';

/** The names in directory `dir`; none when it does not exist (nothing was ever put there). */
export async function dirEntries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
