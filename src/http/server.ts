import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** A JSON answer: status code and body. */
export interface HttpReply {
  readonly status: number;
  /** Sent as JSON, unless `text` is given. */
  readonly body?: unknown;
  /** Sent as is (set a content-type header). */
  readonly text?: string;
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  /**
   * A long-lived answer (server-sent events): called once the headers are sent, with `write`
   * and `onClose`; the response ends when the client goes away or the server closes.
   */
  readonly stream?: (
    write: (chunk: string) => void,
    onClose: (fn: () => void) => void,
    end: () => void,
  ) => void;
}

export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  readonly remoteAddress: string;
  /** Whether the request came over TLS (cookies are then marked Secure). */
  readonly secure: boolean;
  /** The request body; read lazily, bounded by the route's limit. */
  body(): Promise<Buffer>;
}

export type HttpHandler = (req: HttpRequest) => Promise<HttpReply | undefined>;

export interface HttpRoute {
  readonly method: string;
  /** Exact path, or a prefix ending in `/` matched by `startsWith` (`/` itself is exact). */
  readonly path: string;
  readonly handler: HttpHandler;
  /** Largest body accepted, in bytes; default 16 MiB. */
  readonly maxBody?: number;
}

export interface RunningHttpServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export class HttpBodyTooLargeError extends Error {
  override readonly name = 'HttpBodyTooLargeError';
  readonly code = 'ADMIRAL_HTTP_BODY_TOO_LARGE';
  constructor(readonly limit: number) {
    super(`request body larger than ${limit} bytes`);
  }
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new HttpBodyTooLargeError(limit));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** A client this far behind a stream is dropped (it reconnects and starts from a snapshot). */
const STREAM_BACKLOG_BYTES = 8 * 1024 * 1024;

function send(res: ServerResponse, reply: HttpReply): void {
  if (reply.stream) {
    res.writeHead(reply.status, { 'x-content-type-options': 'nosniff', ...reply.headers });
    res.flushHeaders();
    const write = (chunk: string): void => {
      if (res.destroyed) return;
      if (res.writableLength > STREAM_BACKLOG_BYTES) {
        res.destroy();
        return;
      }
      res.write(chunk);
    };
    reply.stream(
      write,
      (fn) => res.once('close', fn),
      () => res.end(),
    );
    return;
  }
  const body = reply.text ?? `${JSON.stringify(reply.body)}\n`;
  res.writeHead(reply.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-content-type-options': 'nosniff',
    ...reply.headers,
  });
  res.end(body);
}

function findRoute(
  routes: readonly HttpRoute[],
  method: string,
  path: string,
): HttpRoute | 'wrong-method' | undefined {
  let pathMatched = false;
  for (const r of routes) {
    const prefix = r.path.length > 1 && r.path.endsWith('/');
    const matches = prefix ? path.startsWith(r.path) : path === r.path;
    if (!matches) continue;
    if (r.method === method) return r;
    pathMatched = true;
  }
  return pathMatched ? 'wrong-method' : undefined;
}

/** Starts a JSON HTTP server with the given routes. */
export function startHttpServer(
  host: string,
  port: number,
  routes: readonly HttpRoute[],
): Promise<RunningHttpServer> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const route = findRoute(routes, method, url.pathname);
    if (route === undefined) return send(res, { status: 404, body: { error: 'not found' } });
    if (route === 'wrong-method') {
      return send(res, { status: 405, body: { error: `method ${method} not allowed` } });
    }
    const request: HttpRequest = {
      method,
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress ?? '',
      secure: 'encrypted' in req.socket && req.socket.encrypted === true,
      body: () => readBody(req, route.maxBody ?? 16 * 1024 * 1024),
    };
    // Inside a promise: a handler that throws, even synchronously, fails this request only.
    Promise.resolve()
      .then(() => route.handler(request))
      .then(
        (reply) => send(res, reply ?? { status: 404, body: { error: 'not found' } }),
        (err: unknown) => {
          if (err instanceof HttpBodyTooLargeError) {
            return send(res, { status: 413, body: { error: err.message } });
          }
          send(res, {
            status: 500,
            body: { error: err instanceof Error ? err.message : String(err) },
          });
        },
      )
      // The answer itself could not be written (a body JSON cannot serialise, a closed socket).
      .catch((err: unknown) => {
        if (res.headersSent) res.destroy();
        else send(res, { status: 500, body: { error: `cannot answer: ${String(err)}` } });
      })
      .catch(() => res.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const addr = server.address();
      const bound = typeof addr === 'object' && addr ? addr.port : port;
      const hostPart = host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `http://${hostPart}:${bound}`,
        host,
        port: bound,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** Splits "host:port" (or "[v6]:port"); the error names the flag or setting it came from. */
export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new Error(`Expected \`${what}\` to be host:port, got "${value}"`);
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}
