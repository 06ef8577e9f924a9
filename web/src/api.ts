// The page's side of central's dashboard API (src/central/dashboard.ts): same-origin fetches that
// carry the session cookie, and the CSRF token on every request that changes something.

export interface NodeRecord {
  readonly node: string;
  readonly online: boolean;
  readonly lastSeen: number;
  readonly firstSeen: number;
  readonly lastEvent: string;
  readonly central: boolean;
  readonly version: string;
  readonly publicKey: string;
  readonly facts: Readonly<Record<string, unknown>>;
}

export interface JobCounts {
  readonly total: number;
  readonly finished: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly noAnswer: number;
}

export interface JobNode {
  readonly node: string;
  readonly state: string;
  readonly exitCode?: number;
  readonly output?: string;
  readonly stderr?: string;
  readonly error?: string;
  readonly outputTruncated?: boolean;
  readonly sentAt?: number;
  readonly finishedAt?: number;
}

export interface Job {
  readonly id: string;
  readonly state: string;
  readonly reason?: string;
  readonly args: readonly string[];
  readonly target: Readonly<Record<string, unknown>>;
  readonly submittedBy: string;
  readonly createdAt: number;
  readonly finishedAt?: number;
  readonly counts: JobCounts;
  readonly nodes?: readonly JobNode[];
  readonly offset?: number;
}

export interface LifecycleEntry {
  readonly at: number;
  readonly node: string;
  readonly event: string;
  readonly online: boolean;
}

/** An answer that was not 2xx: its status and the server's `error` text. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let csrf = '';

export function setCsrf(token: string): void {
  csrf = token;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: {
      ...(body !== undefined && { 'content-type': 'application/json' }),
      ...(method !== 'GET' && { 'x-admiral-csrf': csrf }),
    },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const data = (await res.json().catch(() => ({}))) as { error?: string };
  if (!res.ok) throw new ApiError(res.status, data.error ?? `${res.status} ${res.statusText}`);
  return data as T;
}
