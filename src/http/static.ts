import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { HttpReply } from './server.js';

// The dashboard's built front end (dist/web, made by `npm run build`): read once into memory
// and served by exact name, so no request path ever reaches the file system.

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Headers of every dashboard file: nothing runs but our own script, nothing frames the page. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

export interface StaticFile {
  readonly type: string;
  readonly body: Buffer;
}

/** The files of `dir` (not its subfolders) by URL path (`/app.js`); `/` is index.html. */
export function loadStatic(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return files;
  }
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (type === undefined) continue;
    const file: StaticFile = { type, body: readFileSync(join(dir, name)) };
    files.set(`/${name}`, file);
    if (name === 'index.html') files.set('/', file);
  }
  return files;
}

export function staticReply(file: StaticFile): HttpReply {
  return {
    status: 200,
    text: file.body.toString('utf8'),
    headers: { 'content-type': file.type, ...PAGE_HEADERS },
  };
}
