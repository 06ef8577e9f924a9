// The monitoring HTTP endpoint: `/varz`, `/connz`, `/subsz`, `/routez`, `/healthz` and the `/`
// index, with the paths, query parameters, JSON field names and error texts of nats-server 2.9.10
// (server/monitor.go). Only the parts that make sense for a single server without accounts,
// clustering or JetStream are filled in; the rest is present and empty, as on a nats-server that
// has them turned off.

import http from 'node:http';
import https from 'node:https';
import { availableParallelism, cpus } from 'node:os';
import type { Connection } from './client.js';
import { goDuration } from './duration.js';
import { listen } from './listen.js';
import { isLoopbackHost } from './loopback.js';
import type { BrokerOptions, BrokerStats } from './options.js';
import { isValidLiteralSubject, subjectMatches } from './subject.js';
import type { Sublist, SublistStats } from './sublist.js';
import type { Subscription } from './subscription.js';

/** What the monitor reads from the broker; nothing here is written. */
export interface MonitorSource {
  readonly serverId: string;
  readonly options: BrokerOptions;
  /** The client port actually bound. */
  readonly port: number;
  /** When the broker started (ms since the epoch). */
  readonly startedAt: number;
  readonly stats: BrokerStats;
  readonly sublist: Sublist<Subscription<Connection>>;
  readonly connections: ReadonlySet<Connection>;
  readonly authRequired: boolean;
  /** `connect_urls` as INFO advertises them, if any. */
  connectUrls(): string[];
  /** The `go` string of INFO. */
  readonly goVersion: string;
  readonly version: string;
  /** The WebSocket listener's port, if one is open. */
  readonly wsPort: number | undefined;
}

export interface MonitorListener {
  readonly host: string;
  readonly port: number;
  readonly secure: boolean;
  close(): Promise<void>;
}

/** nats-server's DefaultConnListSize and DefaultSubListSize. */
const DEFAULT_LIST_SIZE = 1024;

const SORT_OPTIONS = new Set([
  'cid',
  'start',
  'subs',
  'pending',
  'msgs_to',
  'msgs_from',
  'bytes_to',
  'bytes_from',
  'last',
  'idle',
  'uptime',
  'stop',
  'reason',
]);

/** A 400 answer with nats-server's text. */
class BadRequest extends Error {}

/** Go's time.Time JSON form (RFC 3339 with trailing fractional zeros dropped). */
export function goTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.?0+Z$/, 'Z');
}

/** nats-server's myUptime: whole seconds as `1y2d3h4m5s`, leading zero units left out. */
export function natsUptime(ms: number): string {
  const tsecs = Math.max(0, Math.floor(ms / 1000));
  const tmins = Math.floor(tsecs / 60);
  const thrs = Math.floor(tmins / 60);
  const tdays = Math.floor(thrs / 24);
  const tyrs = Math.floor(tdays / 365);
  if (tyrs > 0) return `${tyrs}y${tdays % 365}d${thrs % 24}h${tmins % 60}m${tsecs % 60}s`;
  if (tdays > 0) return `${tdays}d${thrs % 24}h${tmins % 60}m${tsecs % 60}s`;
  if (thrs > 0) return `${thrs}h${tmins % 60}m${tsecs % 60}s`;
  if (tmins > 0) return `${tmins}m${tsecs % 60}s`;
  return `${tsecs}s`;
}

/** Go's strconv.ParseBool, as decodeBool in monitor.go uses it; '' is false. */
function queryBool(q: URLSearchParams, name: string): boolean {
  const v = q.get(name) ?? '';
  if (v === '') return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  throw new BadRequest(
    `Error decoding boolean for '${name}': strconv.ParseBool: parsing ${JSON.stringify(v)}: invalid syntax`,
  );
}

/** Go's strconv.Atoi, as decodeInt in monitor.go uses it; '' is 0. */
function queryInt(q: URLSearchParams, name: string, unsigned = false): number {
  const v = q.get(name) ?? '';
  if (v === '') return 0;
  const re = unsigned ? /^\+?\d+$/ : /^[+-]?\d+$/;
  if (!re.test(v) || !Number.isSafeInteger(Number(v))) {
    const fn = unsigned ? 'ParseUint' : 'Atoi';
    const what = unsigned ? 'uint64' : 'int';
    throw new BadRequest(
      `Error decoding ${what} for '${name}': strconv.${fn}: parsing ${JSON.stringify(v)}: invalid syntax`,
    );
  }
  return Number(v);
}

interface SubDetail {
  account?: string;
  subject: string;
  qgroup?: string;
  sid: string;
  msgs: number;
  max?: number;
  cid: number;
}

function subDetail(sub: Subscription<Connection>, withAccount: boolean): SubDetail {
  // Key order as monitor.go's SubDetail; the global account is `$G` in nats-server.
  return {
    ...(withAccount && { account: '$G' }),
    subject: sub.subject,
    ...(sub.queue !== '' && { qgroup: sub.queue }),
    sid: sub.sid,
    msgs: sub.delivered,
    ...(sub.max > 0 && { max: sub.max }),
    cid: sub.owner.cid,
  };
}

/** Builds the monitoring documents from a live broker. */
export class Monitor {
  private readonly reqStats = new Map<string, number>();
  private lastCpu = process.cpuUsage();
  private lastCpuAt = Date.now();
  private cpuPercent = 0;
  httpHost = '';

  constructor(private readonly src: MonitorSource) {}

  private count(path: string): void {
    this.reqStats.set(path, (this.reqStats.get(path) ?? 0) + 1);
  }

  private cpu(): number {
    const now = Date.now();
    const elapsed = now - this.lastCpuAt;
    if (elapsed >= 500) {
      const used = process.cpuUsage(this.lastCpu);
      this.cpuPercent = Math.round(((used.user + used.system) / 1000 / elapsed) * 100 * 100) / 100;
      this.lastCpu = process.cpuUsage();
      this.lastCpuAt = now;
    }
    return this.cpuPercent;
  }

  varz(): Record<string, unknown> {
    this.count('/varz');
    const s = this.src;
    const o = s.options;
    const st = s.stats;
    const now = Date.now();
    // Field order and omitempty rules as monitor.go's Varz struct in 2.9.10.
    const v: Record<string, unknown> = {
      server_id: s.serverId,
      server_name: o.serverName ?? s.serverId,
      version: s.version,
      proto: 1,
      go: s.goVersion,
      host: o.host,
      port: s.port,
    };
    if (s.authRequired) v.auth_required = true;
    if (o.tls && !o.allowNonTls) v.tls_required = true;
    if (o.tls?.verify) v.tls_verify = true;
    const urls = s.connectUrls();
    if (urls.length > 0) v.connect_urls = urls;
    v.max_connections = o.maxConnections;
    if (o.maxSubscriptions > 0) v.max_subscriptions = o.maxSubscriptions;
    v.ping_interval = o.pingInterval * 1e6;
    v.ping_max = o.maxPingsOut;
    v.http_host = this.httpHost;
    // The configured value, as nats-server reports it: -1 for "any free port".
    v.http_port = o.httpPort === 0 ? -1 : (o.httpPort ?? 0);
    v.http_base_path = o.httpBasePath;
    v.https_port = o.httpsPort === 0 ? -1 : (o.httpsPort ?? 0);
    v.auth_timeout = o.authorization?.timeout ?? 2;
    v.max_control_line = o.maxControlLine;
    v.max_payload = o.maxPayload;
    v.max_pending = o.maxPending;
    v.cluster = {};
    v.gateway = {};
    v.leaf = {};
    v.mqtt = {};
    const ws = o.websocket;
    v.websocket =
      ws === undefined
        ? {}
        : {
            host: ws.host ?? o.host,
            port: s.wsPort,
            ...(ws.noTls && { no_tls: true }),
            ...(ws.compression && { compression: true }),
          };
    v.jetstream = {};
    v.tls_timeout = o.tls?.timeout ?? 2;
    v.write_deadline = o.writeDeadline * 1e6;
    v.start = goTime(s.startedAt);
    v.now = goTime(now);
    v.uptime = natsUptime(now - s.startedAt);
    v.mem = process.memoryUsage.rss();
    v.cores = cpus().length;
    v.gomaxprocs = availableParallelism();
    v.cpu = this.cpu();
    v.connections = st.connections;
    v.total_connections = st.totalConnections;
    v.routes = 0;
    v.remotes = 0;
    v.leafnodes = 0;
    v.in_msgs = st.inMsgs;
    v.out_msgs = st.outMsgs;
    v.in_bytes = st.inBytes;
    v.out_bytes = st.outBytes;
    v.slow_consumers = st.slowConsumers;
    v.subscriptions = st.subscriptions;
    v.http_req_stats = Object.fromEntries([...this.reqStats].sort(([a], [b]) => (a < b ? -1 : 1)));
    v.config_load_time = goTime(s.startedAt);
    if (o.serverTags.length > 0) v.tags = o.serverTags;
    return v;
  }

  connz(q: URLSearchParams): Record<string, unknown> {
    const sort = q.get('sort') ?? '';
    const auth = queryBool(q, 'auth');
    const subsDetail = (q.get('subs') ?? '').toLowerCase() === 'detail';
    const subs = subsDetail ? false : queryBool(q, 'subs');
    let offset = queryInt(q, 'offset');
    let limit = queryInt(q, 'limit');
    const cid = queryInt(q, 'cid', true);
    const stateText = (q.get('state') ?? '').toLowerCase();
    if (!['', 'open', 'closed', 'any', 'all'].includes(stateText)) {
      throw new BadRequest(`Error decoding connection state: ${q.get('state')}`);
    }
    this.count('/connz');
    const state = stateText === '' ? 'open' : stateText;
    if (sort !== '' && !SORT_OPTIONS.has(sort)) {
      throw new BadRequest(`invalid sorting option: ${sort}`);
    }
    if (sort === 'stop' && state !== 'closed') {
      throw new BadRequest('sort by stop only valid on closed connections');
    }
    if (sort === 'reason' && state !== 'closed') {
      throw new BadRequest('sort by reason only valid on closed connections');
    }
    if (offset < 0) offset = 0;
    if (limit <= 0) limit = DEFAULT_LIST_SIZE;
    if (cid > 0) limit = 1;
    const now = Date.now();
    const user = q.get('user') ?? '';
    // The embedded broker keeps no closed connections: `state=closed` lists none.
    let conns = state === 'closed' ? [] : [...this.src.connections];
    const total = conns.length;
    if (cid > 0) conns = conns.filter((c) => c.cid === cid);
    if (user !== '') conns = conns.filter((c) => c.user === user);
    const sorters: Record<string, (a: Connection, b: Connection) => number> = {
      subs: (a, b) => b.subs.size - a.subs.size,
      pending: (a, b) => b.pendingBytes - a.pendingBytes,
      msgs_to: (a, b) => b.outMsgs - a.outMsgs,
      msgs_from: (a, b) => b.inMsgs - a.inMsgs,
      bytes_to: (a, b) => b.outBytes - a.outBytes,
      bytes_from: (a, b) => b.inBytes - a.inBytes,
      last: (a, b) => b.lastActivity - a.lastActivity,
      idle: (a, b) => a.lastActivity - b.lastActivity,
      uptime: (a, b) => b.start - a.start,
    };
    conns.sort(sorters[sort] ?? ((a, b) => a.cid - b.cid));
    const page = conns.slice(
      Math.min(offset, conns.length),
      Math.min(offset + limit, conns.length),
    );
    return {
      server_id: this.src.serverId,
      now: goTime(now),
      num_connections: page.length,
      total,
      offset,
      limit,
      connections: page.map((c) => this.connInfo(c, now, { subs, subsDetail, auth })),
    };
  }

  private connInfo(
    c: Connection,
    now: number,
    want: { subs: boolean; subsDetail: boolean; auth: boolean },
  ): Record<string, unknown> {
    // Field order and omitempty rules as monitor.go's ConnInfo struct in 2.9.10.
    const ci: Record<string, unknown> = {
      cid: c.cid,
      kind: 'Client',
      type: c.transport,
      ip: c.remoteAddress,
      port: c.remotePort,
      start: goTime(c.start),
      last_activity: goTime(c.lastActivity),
    };
    if (c.rttMs > 0) ci.rtt = goDuration(c.rttMs * 1e6);
    ci.uptime = natsUptime(now - c.start);
    ci.idle = natsUptime(now - c.lastActivity);
    ci.pending_bytes = c.pendingBytes;
    ci.in_msgs = c.inMsgs;
    ci.out_msgs = c.outMsgs;
    ci.in_bytes = c.inBytes;
    ci.out_bytes = c.outBytes;
    ci.subscriptions = c.subs.size;
    if (c.name !== '') ci.name = c.name;
    if (c.lang !== '') ci.lang = c.lang;
    if (c.version !== '') ci.version = c.version;
    if (want.auth && c.user !== '') ci.authorized_user = c.user;
    // monitor.go: the account only when it is not the global one.
    if (want.auth && c.account !== '') ci.account = c.account;
    if (c.subs.size > 0) {
      if (want.subsDetail) {
        ci.subscriptions_list_detail = [...c.subs.values()].map((s) => subDetail(s, false));
      } else if (want.subs) {
        ci.subscriptions_list = [...c.subs.values()].map((s) => s.subject);
      }
    }
    return ci;
  }

  subsz(q: URLSearchParams): Record<string, unknown> {
    this.count('/subsz');
    const subs = queryBool(q, 'subs');
    let offset = queryInt(q, 'offset');
    let limit = queryInt(q, 'limit');
    const test = q.get('test') ?? '';
    if (offset < 0) offset = 0;
    if (limit <= 0) limit = DEFAULT_LIST_SIZE;
    if (test !== '' && !isValidLiteralSubject(test)) {
      throw new BadRequest(`invalid test subject, must be valid publish subject: ${test}`);
    }
    const stats: SublistStats = this.src.sublist.stats();
    if (!subs) return { ...stats };
    const details: SubDetail[] = [];
    for (const c of this.src.connections) {
      for (const s of c.subs.values()) {
        if (test !== '' && !subjectMatches(s.subject, test)) continue;
        details.push(subDetail(s, true));
      }
    }
    const page = details.slice(
      Math.min(offset, details.length),
      Math.min(offset + limit, details.length),
    );
    // monitor.go: with no subscriptions listed, only the sublist statistics are sent.
    if (page.length === 0) return { ...stats };
    return {
      server_id: this.src.serverId,
      now: goTime(Date.now()),
      ...stats,
      // 2.9.10 reports the size of the page here, not the number of matches.
      total: page.length,
      offset,
      limit,
      subscriptions_list: page,
    };
  }

  routez(): Record<string, unknown> {
    this.count('/routez');
    return { server_id: this.src.serverId, now: goTime(Date.now()), num_routes: 0, routes: [] };
  }

  healthz(): Record<string, unknown> {
    this.count('/healthz');
    return { status: 'ok' };
  }

  root(): string {
    this.count('/');
    const links = [
      ['varz', 'General'],
      ['connz', 'Connections'],
      ['subsz', 'Subscriptions'],
      ['routez', 'Routes'],
    ];
    return `<html lang="en">
  <head><title>admiral broker</title></head>
  <body>
  <p>admiral embedded broker, NATS protocol as nats-server v${this.src.version}</p>
${links.map(([p, t]) => `  <a href=./${p}>${t}</a><br/>`).join('\n')}
  <a href=./healthz class=last>Health Probe</a><br/>
  <a href=https://docs.nats.io/running-a-nats-service/nats_admin/monitoring class="help">Help</a>
  </body>
</html>`;
  }

  /** Routes one request; `basePath` as nats-server's path.Join(http_base_path, p). */
  handle(req: http.IncomingMessage, res: http.ServerResponse, loopback: boolean): void {
    // DNS rebinding: a page of attacker.example whose name now resolves to 127.0.0.1 is same-origin
    // to the browser, but its requests still name attacker.example in Host.
    if (loopback && !isLoopbackHostHeader(req.headers.host ?? '')) {
      res.writeHead(403, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(
        `Expected a loopback Host (localhost, 127.0.0.1, [::1]) for a loopback monitoring endpoint, got ${JSON.stringify(req.headers.host ?? '')}\n`,
      );
      return;
    }
    const url = new URL(req.url ?? '/', 'http://monitor');
    let path = url.pathname;
    const base = normaliseBase(this.src.options.httpBasePath);
    if (base !== '/') {
      if (path !== base && !path.startsWith(`${base}/`)) return notFound(res);
      path = path.slice(base.length) || '/';
    }
    const q = url.searchParams;
    if (q.has('callback')) {
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(
        'JSONP (`callback`) is not served: it would let any web page read the monitoring data',
      );
      return;
    }
    try {
      let body: Record<string, unknown>;
      switch (path) {
        case '/':
          res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
          res.end(this.root());
          return;
        case '/varz':
          body = this.varz();
          break;
        case '/connz':
          body = this.connz(q);
          break;
        case '/subsz':
        case '/subscriptionsz':
          body = this.subsz(q);
          break;
        case '/routez':
          body = this.routez();
          break;
        case '/healthz':
          respond(res, q, JSON.stringify(this.healthz()));
          return;
        default:
          return notFound(res);
      }
      respond(res, q, JSON.stringify(body, null, 2));
    } catch (err) {
      if (!(err instanceof BadRequest)) throw err;
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(err.message);
    }
  }
}

function normaliseBase(base: string): string {
  const parts = base.split('/').filter((p) => p !== '' && p !== '.');
  return `/${parts.join('/')}`;
}

function notFound(res: http.ServerResponse): void {
  res.writeHead(404, {
    'Content-Type': 'text/plain; charset=utf-8',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end('404 page not found\n');
}

/** monitor.go ResponseHandler, without its JSONP: a `<script>` of any web page could read it. */
function respond(res: http.ServerResponse, _q: URLSearchParams, json: string): void {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(json);
}

/** Is `host` (a Host header) a name that only ever means this machine? */
function isLoopbackHostHeader(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '');
  const n = name.toLowerCase();
  return (
    n === 'localhost' || n.endsWith('.localhost') || n === '::1' || /^127(\.\d{1,3}){3}$/.test(n)
  );
}

/** Starts the monitor on `host:port` (HTTPS when `secure` is given). */
export async function listenMonitor(
  monitor: Monitor,
  host: string,
  port: number,
  secure: { cert: string; key: string } | null,
  onError: (err: Error) => void,
): Promise<MonitorListener> {
  const loopback = isLoopbackHost(host);
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    try {
      monitor.handle(req, res, loopback);
    } catch (err) {
      onError(err instanceof Error ? err : new Error(String(err)));
      if (!res.headersSent) res.writeHead(500);
      res.end();
    }
  };
  const server = secure
    ? https.createServer({ cert: secure.cert, key: secure.key }, handler)
    : http.createServer(handler);
  await listen(server, port, host);
  server.on('error', onError);
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  return {
    host,
    port: bound,
    secure: secure !== null,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
