import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { HttpRequest } from './server.js';

// The dashboard's login: the page sends the API bearer token once and gets a session cookie
// (HttpOnly, so no script reads it; SameSite=Strict, so no other site's page sends it; Secure
// under TLS). A request that changes state also carries the session's CSRF token in a header,
// which a cross-site form or image cannot set. OWASP "Cross-Site Request Forgery Prevention
// Cheat Sheet": synchronizer token pattern; "Session Management Cheat Sheet": cookie flags.

export const SESSION_COOKIE = 'admiral_session';
export const CSRF_HEADER = 'x-admiral-csrf';

export interface Session {
  /** Sent back by state-changing requests in the `x-admiral-csrf` header. */
  readonly csrf: string;
  readonly createdAt: number;
  lastUsed: number;
}

export interface SessionOptions {
  /** A session unused this long ends, in ms; default 12 h. */
  readonly idleMs?: number;
  /** Most sessions kept at once (the least recently used goes first); default 1000. */
  readonly max?: number;
  readonly now?: () => number;
}

const hashId = (id: string): string => createHash('sha256').update(id).digest('base64url');

/** Whether `given` equals `want`, compared in constant time. */
export function sameSecret(given: string, want: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The value of cookie `name` in a Cookie header, or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Sessions in memory: a restart logs every page out (the token logs it in again). */
export class Sessions {
  // Keyed by the SHA-256 of the id, so a lookup's timing says nothing about a valid id.
  readonly #byHash = new Map<string, Session>();
  readonly #idleMs: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(options: SessionOptions = {}) {
    this.#idleMs = options.idleMs ?? 12 * 3600_000;
    this.#max = options.max ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  /** A new session: its id (for the cookie) and its CSRF token. */
  create(): { id: string; session: Session } {
    const id = randomBytes(32).toString('base64url');
    const now = this.#now();
    const session: Session = {
      csrf: randomBytes(24).toString('base64url'),
      createdAt: now,
      lastUsed: now,
    };
    this.#byHash.set(hashId(id), session);
    while (this.#byHash.size > this.#max) {
      const oldest = this.#byHash.keys().next().value as string;
      this.#byHash.delete(oldest);
    }
    return { id, session };
  }

  /** The session the request's cookie names, if it is live. */
  lookup(req: HttpRequest): Session | undefined {
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (id === undefined || id.length === 0 || id.length > 100) return undefined;
    const key = hashId(id);
    const s = this.#byHash.get(key);
    if (s === undefined) return undefined;
    const now = this.#now();
    if (now - s.lastUsed > this.#idleMs) {
      this.#byHash.delete(key);
      return undefined;
    }
    s.lastUsed = now;
    // Least recently used last: Map keeps insertion order.
    this.#byHash.delete(key);
    this.#byHash.set(key, s);
    return s;
  }

  /**
   * Whether `session` is still kept (not ended, expired or pushed out), counting this as a use:
   * an open event stream keeps its page's session alive, and ends with it.
   */
  touch(session: Session): boolean {
    const now = this.#now();
    for (const [key, s] of this.#byHash) {
      if (s !== session) continue;
      if (now - s.lastUsed > this.#idleMs) {
        this.#byHash.delete(key);
        return false;
      }
      s.lastUsed = now;
      return true;
    }
    return false;
  }

  /** Ends the request's session, if any. */
  end(req: HttpRequest): void {
    const id = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (id !== undefined) this.#byHash.delete(hashId(id));
  }

  get size(): number {
    return this.#byHash.size;
  }
}

/** Whether the request carries the session's CSRF token in `x-admiral-csrf`. */
export function hasCsrf(req: HttpRequest, session: Session): boolean {
  const given = req.headers[CSRF_HEADER];
  return typeof given === 'string' && sameSecret(given, session.csrf);
}

/** The Set-Cookie value that starts a session (`id`) or, with `undefined`, ends it. */
export function sessionCookie(id: string | undefined, secure: boolean): string {
  const flags = ['Path=/', 'HttpOnly', 'SameSite=Strict', ...(secure ? ['Secure'] : [])];
  return id === undefined
    ? [`${SESSION_COOKIE}=`, 'Max-Age=0', ...flags].join('; ')
    : [`${SESSION_COOKIE}=${id}`, ...flags].join('; ');
}
