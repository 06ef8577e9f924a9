import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { JobRequestError, parseJobSubmit } from '../fleet/job-request.js';
import type { JobNodeView, JobView } from '../fleet/job-view.js';
import { resolveTarget, TargetError } from '../fleet/target.js';
import { apiToken } from '../http/bearer.js';
import type { HttpReply, HttpRequest, HttpRoute } from '../http/server.js';
import {
  CSRF_HEADER,
  hasCsrf,
  sameSecret,
  type Session,
  sessionCookie,
  Sessions,
} from '../http/session.js';
import { loadStatic, PAGE_HEADERS, staticReply } from '../http/static.js';
import { ERROR_LOG_DIRECTORY, ERROR_LOG_FILE_NAME } from '../methods/error-log.js';
import type { NodeContext, NodeExtension } from '../node/extension.js';
import { isMessageId } from '../protocol/index.js';
import type { InventoryRecord } from '../store/inventory.js';
import type { Inventory } from './inventory.js';
import { JobError, type JobRunner } from './job-runner.js';
import type { Registry } from './registry.js';
import { WEB_DIR } from '../layout.js';
import { VERSION } from '../version.js';

// The web dashboard (docs/dashboard.md): the built front end at `/`, a login that trades the API
// bearer token for a session cookie, a JSON API under /ui/api for the page, and /ui/events, a
// server-sent event stream of inventory and job changes (batched, so a busy fleet sends one
// message per batch, not one per node).

/** The front end, built by `npm run build` (scripts/build-web.mjs) into dist/web. */
export { WEB_DIR };

/** How often queued changes go out to the pages, in ms. */
const FLUSH_MS = 250;
/** A comment line sent this often keeps idle streams open through proxies, in ms. */
const KEEPALIVE_MS = 15_000;
/** Lifecycle events kept for a page that connects. */
const EVENTS_KEPT = 200;
/** Characters of a node's stdout or stderr in a job page; the rest is behind a link. */
export const OUTPUT_PREVIEW_CHARS = 4096;
/** Messages central sent to a node, shown on its page. */
const RECENT_MESSAGES = 20;
/** Nodes of a job per page. */
const JOB_PAGE_MAX = 500;
/** The tail of the error log the Health page shows: at most this many bytes, then lines. */
const ERROR_TAIL_BYTES = 64 * 1024;
const ERROR_TAIL_LINES = 100;
/** Targets listed on the Health page, deepest outbox first. */
const OUTBOX_TARGETS_SHOWN = 100;

/** The last lines of a file (at most `bytes` of it); none when it does not exist. */
async function tail(file: string, bytes: number, lines: number): Promise<string[]> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return [];
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    await handle.read(buf, 0, buf.length, start);
    const all = buf.toString('utf8').split('\n');
    if (start > 0) all.shift(); // a partial first line
    return all.filter((l) => l !== '').slice(-lines);
  } finally {
    await handle.close();
  }
}

export interface DashboardOptions {
  /** Bearer token the login takes; when absent, `<dataDir>/api-token`. */
  readonly httpToken?: string;
  readonly inventory: () => Inventory | undefined;
  readonly runner: () => JobRunner | undefined;
  /** The service registry (Registry page); absent: the page says so. */
  readonly registry?: () => Registry | undefined;
  /** Where the built front end is; default WEB_DIR. */
  readonly webDir?: string;
}

export interface LifecycleEntry {
  readonly at: number;
  readonly node: string;
  readonly event: string;
  readonly online: boolean;
}

interface StreamClient {
  readonly session: Session;
  write(chunk: string): void;
  close(): void;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): HttpReply => ({
  status,
  body,
  headers: { 'cache-control': 'no-store', ...headers },
});

const sse = (event: string, data: unknown): string =>
  `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

const truncate = (s: string | undefined): { text?: string; truncated: boolean } =>
  s === undefined
    ? { truncated: false }
    : s.length > OUTPUT_PREVIEW_CHARS
      ? { text: s.slice(0, OUTPUT_PREVIEW_CHARS), truncated: true }
      : { text: s, truncated: false };

/** A job node as the page shows it: output cut to a preview, `outputTruncated` when cut. */
function pageNode(n: JobNodeView): Record<string, unknown> {
  const out = truncate(n.output);
  const err = truncate(n.stderr);
  return {
    ...n,
    ...(out.text !== undefined && { output: out.text }),
    ...(err.text !== undefined && { stderr: err.text }),
    ...((out.truncated || err.truncated) && { outputTruncated: true }),
  };
}

export interface DashboardExtension extends NodeExtension {
  readonly sessions: Sessions;
}

export function dashboardExtension(options: DashboardOptions): DashboardExtension {
  const files = loadStatic(options.webDir ?? WEB_DIR);
  const sessions = new Sessions();
  const clients = new Set<StreamClient>();
  const events: LifecycleEntry[] = [];
  let pendingNodes = new Set<string>();
  let pendingJobs = new Set<string>();
  let pendingEvents: LifecycleEntry[] = [];
  let flushTimer: NodeJS.Timeout | undefined;
  let keepalive: NodeJS.Timeout | undefined;
  const unwatch: (() => void)[] = [];
  let token: string | undefined;
  let ctx: NodeContext | undefined;
  let brokerUp = true;

  const broadcast = (chunk: string): void => {
    for (const c of clients) c.write(chunk);
  };

  const flush = (): void => {
    flushTimer = undefined;
    const inv = options.inventory();
    const runner = options.runner();
    if (pendingNodes.size > 0 && inv) {
      const nodes = [...pendingNodes].flatMap((n) => inv.get(n) ?? []);
      broadcast(sse('nodes', { nodes }));
    }
    if (pendingEvents.length > 0) broadcast(sse('lifecycle', { events: pendingEvents }));
    if (runner)
      for (const id of pendingJobs) {
        const view = runner.view(id, false);
        if (view) broadcast(sse('job', view));
      }
    pendingNodes = new Set();
    pendingJobs = new Set();
    pendingEvents = [];
  };
  const queue = (): void => {
    if (flushTimer === undefined && clients.size > 0) flushTimer = setTimeout(flush, FLUSH_MS);
  };

  const onNode = (rec: InventoryRecord): void => {
    const entry = { at: rec.lastSeen, node: rec.node, event: rec.lastEvent, online: rec.online };
    events.push(entry);
    if (events.length > EVENTS_KEPT) events.splice(0, events.length - EVENTS_KEPT);
    if (clients.size === 0) return;
    pendingNodes.add(rec.node);
    pendingEvents.push(entry);
    queue();
  };
  const onJob = (id: string): void => {
    if (clients.size === 0) return;
    pendingJobs.add(id);
    queue();
  };

  /**
   * A 403 for a state-changing request whose Origin is another site's (defence in depth beside
   * SameSite and the CSRF token; OWASP: "Verifying Origin With Standard Headers"). Browsers send
   * Origin on every POST and DELETE; a request without one (curl, a script) is judged by the rest.
   */
  const crossOrigin = (req: HttpRequest): HttpReply | undefined => {
    const origin = req.headers.origin;
    if (origin === undefined) return undefined;
    let host: string | undefined;
    try {
      host = new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host !== undefined && host === req.headers.host) return undefined;
    return json(403, {
      error: `cross-origin request refused: origin ${JSON.stringify(origin)}, expected this dashboard's own (${JSON.stringify(req.headers.host ?? '')})`,
      code: 'ADMIRAL_DASHBOARD_ORIGIN',
    });
  };

  /** The request's live session, or the 401 that sends the page to its login. */
  const authed = (
    req: HttpRequest,
    write: boolean,
  ): { session: Session; refusal?: undefined } | { refusal: HttpReply } => {
    const session = sessions.lookup(req);
    if (!session) {
      return {
        refusal: json(401, {
          error: 'not logged in: POST /ui/login with {"token": "<api token>"} first',
          code: 'ADMIRAL_DASHBOARD_LOGIN',
        }),
      };
    }
    const foreign = write ? crossOrigin(req) : undefined;
    if (foreign) return { refusal: foreign };
    if (write && !hasCsrf(req, session)) {
      return {
        refusal: json(403, {
          error: `missing or wrong ${CSRF_HEADER} header: expected the session's CSRF token (from POST /ui/login or GET /ui/session)`,
          code: 'ADMIRAL_DASHBOARD_CSRF',
        }),
      };
    }
    return { session };
  };

  const guarded =
    (write: boolean, fn: (req: HttpRequest) => Promise<HttpReply> | HttpReply) =>
    async (req: HttpRequest): Promise<HttpReply> => {
      const a = authed(req, write);
      if (a.refusal) return a.refusal;
      return fn(req);
    };

  const jsonBody = async (req: HttpRequest): Promise<unknown> => {
    const type = req.headers['content-type'] ?? '';
    // A cross-site form can post text/plain or a form encoding, never application/json.
    if (!/^application\/json\b/i.test(type)) {
      throw new JobRequestError(
        `Expected content-type application/json, got ${JSON.stringify(type)}`,
      );
    }
    try {
      return JSON.parse((await req.body()).toString('utf8')) as unknown;
    } catch {
      throw new JobRequestError('Expected a JSON body');
    }
  };

  const withRunner =
    (fn: (r: JobRunner) => HttpReply | Promise<HttpReply>) => async (): Promise<HttpReply> => {
      const r = options.runner();
      return r ? fn(r) : json(503, { error: 'the job service is not running' });
    };

  const badRequest = (err: unknown): HttpReply => {
    if (err instanceof JobRequestError || err instanceof JobError || err instanceof TargetError) {
      return json(400, { error: err.message, code: err.code });
    }
    throw err;
  };

  const jobId = (req: HttpRequest): string =>
    req.path.slice('/ui/api/jobs/'.length).split('/')[0] ?? '';

  const routes: HttpRoute[] = [
    ...[...files.keys()].map((path): HttpRoute => ({
      method: 'GET',
      path,
      handler: async () =>
        staticReply(files.get(path) as NonNullable<ReturnType<typeof files.get>>),
    })),
    ...(files.has('/')
      ? []
      : [
          {
            method: 'GET',
            path: '/',
            handler: async (): Promise<HttpReply> => ({
              status: 503,
              text: 'the dashboard is not built: run `npm run build` (it writes dist/web)\n',
              headers: { 'content-type': 'text/plain; charset=utf-8', ...PAGE_HEADERS },
            }),
          },
        ]),
    {
      method: 'POST',
      path: '/ui/login',
      maxBody: 4096,
      handler: async (req) => {
        const foreign = crossOrigin(req);
        if (foreign) return foreign;
        let body: unknown;
        try {
          body = await jsonBody(req);
        } catch (err) {
          return badRequest(err);
        }
        const given = (body as { token?: unknown } | null)?.token;
        if (token === undefined || typeof given !== 'string' || !sameSecret(given, token)) {
          return json(401, {
            error: `wrong token: expected the API token (central.http.token, or the node's <dataDir>/api-token)`,
            code: 'ADMIRAL_DASHBOARD_LOGIN',
          });
        }
        const { id, session } = sessions.create();
        return json(200, { csrf: session.csrf }, { 'set-cookie': sessionCookie(id, req.secure) });
      },
    },
    {
      method: 'POST',
      path: '/ui/logout',
      handler: guarded(true, (req) => {
        const session = sessions.lookup(req);
        sessions.end(req);
        for (const c of clients) if (c.session === session) c.close();
        return json(200, { ok: true }, { 'set-cookie': sessionCookie(undefined, req.secure) });
      }),
    },
    {
      method: 'GET',
      path: '/ui/session',
      // 200 either way: the page asks this first, and a 401 would be a console error there.
      handler: async (req) => {
        const session = sessions.lookup(req);
        return json(200, session ? { loggedIn: true, csrf: session.csrf } : { loggedIn: false });
      },
    },
    {
      method: 'GET',
      path: '/ui/api/nodes/',
      handler: guarded(false, (req) => {
        const rest = req.path.slice('/ui/api/nodes/'.length);
        const m = /^([A-Za-z0-9_-]{1,64})\/messages$/.exec(rest);
        if (m && ctx) {
          return json(
            200,
            ctx.store.outbox.listTo(m[1] as string, RECENT_MESSAGES).map((r) => ({
              id: r.id,
              method: r.method,
              state: r.state,
              createdAt: r.createdAt,
              ...(r.finishedAt !== null && { finishedAt: r.finishedAt }),
              ...(r.error !== null && { error: r.error }),
            })),
          );
        }
        const name = rest;
        const rec = options.inventory()?.get(name);
        return rec
          ? json(200, rec)
          : json(404, { error: `no node ${JSON.stringify(name)} in the inventory` });
      }),
    },
    {
      method: 'POST',
      path: '/ui/api/preview',
      maxBody: 64 * 1024,
      handler: guarded(true, async (req) => {
        try {
          const body = (await jsonBody(req)) as Record<string, unknown>;
          const parsed = parseJobSubmit({ ...body, args: ['-'] });
          const nodes = resolveTarget(parsed.target, options.inventory()?.list() ?? []);
          return json(200, { count: nodes.length, nodes: nodes.slice(0, 20) });
        } catch (err) {
          return badRequest(err);
        }
      }),
    },
    {
      method: 'GET',
      path: '/ui/api/jobs',
      handler: guarded(
        false,
        withRunner((r) => json(200, r.list(100))),
      ),
    },
    {
      method: 'POST',
      path: '/ui/api/jobs',
      maxBody: 1024 * 1024,
      handler: guarded(true, async (req) =>
        withRunner(async (r) => {
          try {
            return json(201, await r.submit(parseJobSubmit(await jsonBody(req)), 'dashboard'));
          } catch (err) {
            return badRequest(err);
          }
        })(),
      ),
    },
    {
      method: 'GET',
      path: '/ui/api/jobs/',
      handler: guarded(false, (req) =>
        withRunner((r) => {
          const id = jobId(req);
          const rest = req.path.slice(`/ui/api/jobs/${id}`.length);
          const m = /^\/nodes\/([A-Za-z0-9_-]{1,64})\/(output|stderr)$/.exec(rest);
          if (m) {
            const n = isMessageId(id) ? r.view(id)?.nodes?.find((x) => x.node === m[1]) : undefined;
            if (!n)
              return json(404, {
                error: `no node ${JSON.stringify(m[1])} in job ${JSON.stringify(id)}`,
              });
            return {
              status: 200,
              text: (m[2] === 'output' ? n.output : n.stderr) ?? '',
              headers: {
                'content-type': 'text/plain; charset=utf-8',
                'cache-control': 'no-store',
                ...PAGE_HEADERS,
                'content-security-policy': "sandbox; default-src 'none'",
              },
            };
          }
          if (rest !== '') return json(404, { error: `no such path ${JSON.stringify(req.path)}` });
          const offset = Math.max(0, Math.floor(Number(req.query.get('offset') ?? 0)) || 0);
          const limit = Math.min(
            JOB_PAGE_MAX,
            Math.max(1, Math.floor(Number(req.query.get('limit') ?? 100)) || 100),
          );
          // Only the page of rows asked for is read: a 5,000-node job is not read whole per update.
          const view: JobView | undefined = isMessageId(id)
            ? r.view(id, true, { offset, limit })
            : undefined;
          if (!view) return json(404, { error: `no job ${JSON.stringify(id)}` });
          return json(200, { ...view, nodes: (view.nodes ?? []).map(pageNode), offset });
        })(),
      ),
    },
    {
      method: 'DELETE',
      path: '/ui/api/jobs/',
      handler: guarded(true, (req) =>
        withRunner((r) => {
          try {
            return json(200, r.cancel(jobId(req)));
          } catch (err) {
            if (err instanceof JobError) {
              const status = err.code === 'ADMIRAL_JOB_NOT_FOUND' ? 404 : 409;
              return json(status, { error: err.message, code: err.code });
            }
            throw err;
          }
        })(),
      ),
    },
    {
      method: 'GET',
      path: '/ui/api/registry',
      handler: guarded(false, async () => {
        const reg = options.registry?.();
        if (!reg)
          return json(503, { error: 'the service registry is not running on this central' });
        return json(200, await reg.list());
      }),
    },
    {
      method: 'GET',
      path: '/ui/api/health',
      handler: guarded(false, async () => {
        const c = ctx;
        if (!c) return json(503, { error: 'central is not started' });
        const depth = [...c.store.outbox.depthByTarget()]
          .map(([target, pending]) => ({ target, pending }))
          .sort((a, b) => b.pending - a.pending);
        const inv = options.inventory()?.list() ?? [];
        const errorLog = join(
          c.options.dataDir,
          ERROR_LOG_DIRECTORY,
          c.options.name,
          ERROR_LOG_FILE_NAME,
        );
        return json(200, {
          node: c.options.name,
          version: VERSION,
          broker: {
            connected: brokerUp && !c.nc.isClosed(),
            server: c.nc.getServer(),
          },
          nodes: { total: inv.length, online: inv.filter((n) => n.online).length },
          jobsRunning:
            options
              .runner()
              ?.list(1000)
              .filter((j) => j.state === 'running').length ?? 0,
          outbox: {
            pending: depth.reduce((sum, d) => sum + d.pending, 0),
            targets: depth.length,
            byTarget: depth.slice(0, OUTBOX_TARGETS_SHOWN),
          },
          errorLog: {
            file: errorLog,
            tail: await tail(errorLog, ERROR_TAIL_BYTES, ERROR_TAIL_LINES),
          },
        });
      }),
    },
    {
      method: 'GET',
      path: '/ui/events',
      handler: async (req) => {
        const a = authed(req, false);
        if (a.refusal) return a.refusal;
        const { session } = a;
        return {
          status: 200,
          headers: {
            'content-type': 'text/event-stream; charset=utf-8',
            'cache-control': 'no-store',
            connection: 'keep-alive',
          },
          stream: (write, onClose, end) => {
            let closed = false;
            const client: StreamClient = {
              session,
              write,
              close: () => {
                closed = true;
                clients.delete(client);
                write('event: logout\ndata: {}\n\n');
                end();
              },
            };
            write('retry: 2000\n\n');
            write(sse('nodes', { full: true, nodes: options.inventory()?.list() ?? [] }));
            write(sse('jobs', { jobs: options.runner()?.list(100) ?? [] }));
            write(sse('lifecycle', { full: true, events }));
            if (!closed) clients.add(client);
            onClose(() => clients.delete(client));
          },
        };
      },
    },
  ];

  return {
    name: 'dashboard',
    routes,
    sessions,
    async start(c: NodeContext) {
      ctx = c;
      token = options.httpToken ?? apiToken(c.options.dataDir);
      void (async () => {
        for await (const s of c.nc.status()) {
          if (s.type === 'disconnect') brokerUp = false;
          else if (s.type === 'reconnect') brokerUp = true;
        }
      })().catch(() => undefined);
      const inv = options.inventory();
      if (inv) unwatch.push(inv.onChange(onNode));
      const runner = options.runner();
      if (runner) unwatch.push(runner.onChange(onJob));
      keepalive = setInterval(() => {
        for (const client of clients) {
          if (sessions.touch(client.session)) client.write(': keepalive\n\n');
          else client.close();
        }
      }, KEEPALIVE_MS);
      keepalive.unref();
    },
    async stop() {
      for (const u of unwatch.splice(0)) u();
      clearInterval(keepalive);
      clearTimeout(flushTimer);
      clients.clear();
    },
  };
}
