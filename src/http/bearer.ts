import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HttpReply, HttpRequest } from './server.js';

// The bearer token of a node's HTTP listener (the message input and central's API): a local
// port is open to every user of the machine, so nothing there is served without it.

export const API_TOKEN_FILE = 'api-token';

/** Reads `<dataDir>/api-token`, making it (mode 0600) the first time. */
export function apiToken(dataDir: string): string {
  const file = join(dataDir, API_TOKEN_FILE);
  try {
    const t = readFileSync(file, 'utf8').trim();
    if (t.length >= 16) return t;
  } catch {
    // not made yet
  }
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}

/** Whether `req` carries `Authorization: Bearer <token>` (compared in constant time). */
export function hasBearer(req: HttpRequest, token: string | undefined): boolean {
  if (token === undefined) return false;
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m?.[1]) return false;
  const given = Buffer.from(m[1]);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

/** The 401 answer for a request without the right token. */
export function unauthorized(): HttpReply {
  return {
    status: 401,
    body: {
      error: `missing or wrong bearer token (Authorization: Bearer <token>; the token is in the node's <dataDir>/${API_TOKEN_FILE})`,
    },
    headers: { 'www-authenticate': 'Bearer realm="admiral"' },
  };
}
