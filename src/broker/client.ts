// One client connection: its protocol state, one handler per verb behind one dispatch switch,
// and its bounded outbound buffer. It takes any Duplex and never touches node:net, so tests run
// it in memory. Rules cite nats-server's server/client.go.

import type { Duplex } from 'node:stream';
import type { AuthResult, Authenticator, ConnectCredentials } from './auth.js';
import { ServerErrorText } from './errors.js';
import type { BrokerOptions, BrokerStats } from './options.js';
import { OpKind, type ParsedOp, ParseErrorKind, Parser, type ParserSink } from './parser.js';
import type { ClientPermissions } from './permissions.js';
import { isValidLiteralSubject } from './subject.js';
import type { Sublist } from './sublist.js';
import { Subscription } from './subscription.js';

export type BrokerLogger = (
  level: 'debug' | 'info' | 'warn' | 'error',
  msg: string,
  fields?: Record<string, unknown>,
) => void;

/** What a connection needs from the broker that owns it. */
export interface ConnectionHost {
  readonly options: BrokerOptions;
  readonly sublist: Sublist<Subscription<Connection>>;
  /** The subject space of an account (operator mode); '' is the global one, `sublist`. */
  sublistFor(account: string): Sublist<Subscription<Connection>>;
  /** Counts the connection in its account; false when the account is full. */
  joinAccount(conn: Connection, max: number): boolean;
  leaveAccount(conn: Connection): void;
  readonly auth: Authenticator;
  readonly stats: BrokerStats;
  readonly log: BrokerLogger;
  /** Queue a connection whose outbound buffer needs writing at the end of this tick. */
  markDirty(conn: Connection): void;
  /** Forget a closed connection. */
  removeConnection(conn: Connection): void;
}

export interface ConnectionMeta {
  remoteAddress?: string;
  remotePort?: number;
  tls?: boolean;
  /** How the client reached the broker, as /connz's `type` says it; default `nats`. */
  transport?: 'nats' | 'websocket';
}

const PING_LINE = 'PING\r\n';
const PONG_LINE = 'PONG\r\n';
const OK_LINE = '+OK\r\n';
/** Smaller flushes are copied into a pooled buffer; larger ones hand the scratch buffer off. */
const COPY_FLUSH_MAX = 4096;
/** Initial scratch size; kept small because every idle connection holds one. */
const OUT_INITIAL = 4096;
/** Payloads this large are written as their own chunk instead of being copied. */
const DIRECT_WRITE_MIN = 64 * 1024;
/** How long a closing connection may take to flush before it is destroyed. */
const CLOSE_GRACE_MS = 2000;

// Reply prefix reserved for service imports (client.go isServiceReply); 2.9.10 lets a client
// use the gateway prefix `$GNR.` as a reply (checked against the binary).
function isReservedReply(reply: string): boolean {
  return reply.startsWith('_R_.');
}

/**
 * Copies a latin1 string's bytes. For the short strings of a MSG line a JIT-compiled loop beats
 * Buffer#write, whose per-call encoding dispatch dominated the profile.
 */
function putLatin1(out: Buffer, pos: number, s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) out[pos + i] = s.charCodeAt(i);
  return pos + n;
}

/** CONNECT fields and their JSON types; a mismatch is a JSON error to nats-server (Go unmarshal). */
const CONNECT_FIELD_TYPES: Record<string, 'boolean' | 'string' | 'number'> = {
  verbose: 'boolean',
  pedantic: 'boolean',
  tls_required: 'boolean',
  echo: 'boolean',
  headers: 'boolean',
  no_responders: 'boolean',
  auth_token: 'string',
  user: 'string',
  pass: 'string',
  name: 'string',
  lang: 'string',
  version: 'string',
  nkey: 'string',
  sig: 'string',
  jwt: 'string',
  protocol: 'number',
};

type ConnectFields = ConnectCredentials & {
  verbose?: boolean;
  pedantic?: boolean;
  echo?: boolean;
  headers?: boolean;
  no_responders?: boolean;
  protocol?: number;
  name?: string;
  lang?: string;
  version?: string;
};

function parseConnect(json: string): ConnectFields | null {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return null;
  }
  // Go's json.Unmarshal of `null` into a struct is a no-op, not an error.
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    const want = CONNECT_FIELD_TYPES[key];
    const got = o[key];
    if (want === undefined || got === null) continue;
    if (typeof got !== want) return null;
    if (want === 'number' && !Number.isInteger(got)) return null;
  }
  return o as ConnectFields;
}

export class Connection implements ParserSink {
  readonly cid: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly subs = new Map<string, Subscription<Connection>>();
  closed = false;
  /** Set while queued in the host's dirty list. */
  dirty = false;
  /** Client name from CONNECT, for logs. */
  name = '';
  user = '';
  /** The account a JWT user belongs to; '' without operator mode. */
  account = '';
  /** This connection's subject space: its account's. */
  private sublist: Sublist<Subscription<Connection>>;
  private expireTimer: NodeJS.Timeout | null = null;
  /** `lang` and `version` from CONNECT, for /connz. */
  lang = '';
  version = '';
  readonly transport: 'nats' | 'websocket';
  /** When the connection was accepted and when it last published, subscribed or connected (ms). */
  readonly start = Date.now();
  lastActivity = this.start;
  /** Round trip estimated as nats-server does: from accept to CONNECT, in ms; 0 before CONNECT. */
  rttMs = 0;
  // Per-connection counters for /connz (client.go inMsgs/outMsgs/inBytes/outBytes).
  inMsgs = 0;
  inBytes = 0;
  outMsgs = 0;
  outBytes = 0;

  // CONNECT options: nats-server starts with verbose, pedantic and echo on (client.go clientOpts).
  private verbose = true;
  private pedantic = true;
  private echo = true;
  private headers = false;
  private noResponders = false;
  private connected = false;
  /** CONNECT's `protocol`; 1 means the client takes INFO updates (client.go ClientProtoInfo). */
  private protocol = 0;
  /** client.go firstPongSent: a PING answered after CONNECT; INFO updates go only to these. */
  private firstPongSent = false;
  private perms: ClientPermissions | null = null;
  private readonly nonce: string | undefined;
  /** The CONNECT credentials, kept to check them again on a configuration reload (reload.go). */
  private creds: ConnectFields | null = null;

  private readonly parser: Parser;
  private readonly trace: boolean;
  private out: Buffer = Buffer.allocUnsafe(0);
  private outPos = 0;
  private pingsOut = 0;
  private lastTail = '';
  private lastIn = this.start;
  private pingTimer: NodeJS.Timeout | null = null;
  private authTimer: NodeJS.Timeout | null = null;
  private writeTimer: NodeJS.Timeout | null = null;
  private closedResolve: (() => void) | null = null;
  private readonly closedPromise: Promise<void>;
  private streamClosed = false;

  constructor(
    private readonly host: ConnectionHost,
    private readonly stream: Duplex,
    cid: number,
    meta: ConnectionMeta,
    greeting: { info: string | null; nonce: string | undefined },
  ) {
    this.cid = cid;
    this.remoteAddress = meta.remoteAddress ?? '';
    this.remotePort = meta.remotePort ?? 0;
    this.transport = meta.transport ?? 'nats';
    this.sublist = host.sublist;
    const opts = host.options;
    this.trace = opts.trace;
    this.parser = new Parser(this, {
      maxControlLine: opts.maxControlLine,
      maxPayload: opts.maxPayload,
    });
    this.nonce = greeting.nonce;
    this.closedPromise = new Promise((resolve) => {
      this.closedResolve = resolve;
    });

    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => this.close('client closed'));
    stream.on('close', () => this.onStreamClose());
    stream.on('error', (err: Error) => {
      host.log('debug', 'client stream error', { cid, error: err.message });
      this.close('stream error', true);
    });

    // INFO goes first; server.ts sends it itself before a TLS upgrade and passes null.
    if (greeting.info !== null) this.queueString(greeting.info, 'utf8');
    if (host.auth.required) {
      this.parser.requireConnect = true;
      this.authTimer = setTimeout(() => {
        this.authTimer = null;
        if (!this.connected) this.closeWithError(ServerErrorText.AuthTimeout);
      }, host.auth.timeoutMs);
      this.authTimer.unref();
    }
    this.pingTimer = setInterval(() => this.onPingTimer(), opts.pingInterval);
    this.pingTimer.unref();
    // A stream that died before it was handed over will never emit 'close' again.
    if (stream.destroyed) queueMicrotask(() => this.onStreamClose());
  }

  /** Bytes queued for this client and not yet written to the socket, for /connz. */
  get pendingBytes(): number {
    return this.outPos + this.stream.writableLength;
  }

  /** Resolves once the underlying stream has closed. */
  get done(): Promise<void> {
    return this.closedPromise;
  }

  private onData(chunk: Buffer): void {
    if (this.closed) return;
    this.lastIn = Date.now();
    try {
      this.parser.feed(chunk);
    } catch (err) {
      // A bug or hostile input must cost only this connection, never the broker.
      this.host.log('error', 'closing client after internal error', {
        cid: this.cid,
        error: err instanceof Error ? err.stack : String(err),
      });
      this.close('internal error');
    }
  }

  // ---- parser sink: the one dispatch switch ----

  onOp(op: ParsedOp): void {
    if (this.trace) this.traceIn(op);
    switch (op.kind) {
      case OpKind.Pub:
      case OpKind.Hpub:
        this.handlePub(op);
        break;
      case OpKind.Sub:
        this.handleSub(op);
        break;
      case OpKind.Unsub:
        this.handleUnsub(op);
        break;
      case OpKind.Connect:
        this.handleConnect(op);
        break;
      case OpKind.Ping:
        this.handlePing();
        break;
      case OpKind.Pong:
        this.handlePong();
        break;
      case OpKind.Err:
        this.handleErr(op);
        break;
      case OpKind.Ok:
      case OpKind.Info:
        // Clients may send these; nats-server ignores them from a client.
        break;
    }
  }

  /** client.go traceInOp: `<<- [SUB foo 1]`. CONNECT is left out: it may carry a password. */
  private traceIn(op: ParsedOp): void {
    const args = (...a: string[]): string => a.filter((x) => x !== '').join(' ');
    let line: string;
    switch (op.kind) {
      case OpKind.Pub:
        line = `PUB ${args(op.subject, op.reply, op.sizeText)}`;
        break;
      case OpKind.Hpub:
        line = `HPUB ${args(op.subject, op.reply, op.hdrText, op.sizeText)}`;
        break;
      case OpKind.Sub:
        line = `SUB ${args(op.subject, op.queue, op.sid)}`;
        break;
      case OpKind.Unsub:
        line = `UNSUB ${args(op.sid, op.max >= 0 ? String(op.max) : '')}`;
        break;
      case OpKind.Ping:
        line = 'PING';
        break;
      case OpKind.Pong:
        line = 'PONG';
        break;
      default:
        return;
    }
    this.host.log('debug', `<<- [${line}]`, { cid: this.cid });
  }

  onParseError(kind: ParseErrorKind): void {
    switch (kind) {
      case ParseErrorKind.UnknownOp:
        this.closeWithError(ServerErrorText.UnknownOp);
        break;
      case ParseErrorKind.MaxControlLine:
        this.closeWithError(ServerErrorText.MaxControlLine);
        break;
      case ParseErrorKind.MaxPayload:
        this.closeWithError(ServerErrorText.MaxPayload);
        break;
      case ParseErrorKind.AuthViolation:
        this.closeWithError(ServerErrorText.AuthViolation);
        break;
      case ParseErrorKind.BadArgs:
      case ParseErrorKind.HeadersNotSupported:
        // nats-server returns a Go error from processPub/processSub/...: close, no -ERR.
        this.close('protocol error');
        break;
    }
  }

  // ---- handlers ----

  private handleConnect(op: ParsedOp): void {
    // Byte-transparent latin1 back to UTF-8 so names and passwords keep non-ASCII characters.
    const c = parseConnect(Buffer.from(op.arg, 'latin1').toString('utf8'));
    if (!c) {
      // client.go processConnect: a JSON error closes without -ERR.
      this.close('malformed CONNECT');
      return;
    }
    const host = this.host;
    if (host.auth.required) {
      const res = host.auth.authenticate(c, this.nonce);
      if (!res) {
        host.log('warn', 'authorization violation', {
          cid: this.cid,
          user: c.user ?? c.nkey ?? '',
          ...(host.auth.operatorMode && { reason: host.auth.lastJwtError }),
        });
        this.closeWithError(ServerErrorText.AuthViolation);
        return;
      }
      this.user = res.user;
      this.perms = res.permissions;
      this.creds = c;
      if (res.account !== undefined && res.account !== '') {
        this.account = res.account;
        if (!host.joinAccount(this, res.accountMaxConnections ?? -1)) {
          this.account = '';
          this.closeWithError(ServerErrorText.MaxAccountConnections);
          return;
        }
        this.sublist = host.sublistFor(res.account);
      }
      this.expireAt(res);
      if (this.authTimer) {
        clearTimeout(this.authTimer);
        this.authTimer = null;
      }
      this.parser.requireConnect = false;
    }
    if (c.protocol !== undefined && c.protocol !== null && (c.protocol < 0 || c.protocol > 1)) {
      this.closeWithError(ServerErrorText.BadClientProtocol);
      return;
    }
    // Go's json.Unmarshal into the existing options leaves absent fields as they were.
    if (typeof c.verbose === 'boolean') this.verbose = c.verbose;
    if (typeof c.pedantic === 'boolean') this.pedantic = c.pedantic;
    if (typeof c.echo === 'boolean') this.echo = c.echo;
    if (typeof c.headers === 'boolean') this.headers = c.headers;
    if (typeof c.no_responders === 'boolean') this.noResponders = c.no_responders;
    if (typeof c.name === 'string') this.name = c.name;
    if (typeof c.protocol === 'number') this.protocol = c.protocol;
    if (typeof c.lang === 'string') this.lang = c.lang;
    if (typeof c.version === 'string') this.version = c.version;
    this.parser.headers = this.headers;
    if (this.noResponders && !this.headers) {
      this.closeWithError(ServerErrorText.NoRespondersNeedHeaders);
      return;
    }
    if (!this.connected) this.rttMs = Math.max(Date.now() - this.start, 0.000001);
    this.lastActivity = this.lastIn;
    this.connected = true;
    if (this.verbose) this.queueString(OK_LINE);
  }

  private handlePing(): void {
    this.queueString(PONG_LINE);
    if (this.connected) this.firstPongSent = true;
  }

  /**
   * reload.go reloadAuthorization: checks the credentials again against the host's (new)
   * authenticator. Unauthorized: 'Authorization Violation' and closed. Otherwise the new
   * permissions apply, and subscriptions they no longer allow are removed, each with an -ERR.
   */
  reauthorize(): void {
    if (this.closed || !this.connected) return;
    const auth = this.host.auth;
    const creds = this.creds ?? {};
    const named = creds.nkey || creds.user;
    if (named && !auth.operatorMode && !auth.hasUser(named)) {
      // reload.go clientHasMovedToDifferentAccount: a user that no longer exists is closed
      // without an -ERR, so it reconnects and is refused then.
      this.close('user removed by configuration reload');
      return;
    }
    const res = auth.required ? auth.authenticate(creds, this.nonce) : null;
    if (auth.required && (res === null || (res.account ?? '') !== this.account)) {
      // A user that now belongs to another account is closed too, to reconnect there.
      this.closeWithError(ServerErrorText.AuthViolation);
      return;
    }
    this.perms = res?.permissions ?? null;
    const perms = this.perms;
    if (!perms) return;
    for (const sub of [...this.subs.values()]) {
      const canSub = perms.set.canSubscribe(sub.subject, '');
      const canQSub = sub.queue !== '' && perms.set.canSubscribe(sub.subject, sub.queue);
      if (!canSub && !canQSub) {
        this.removeSub(sub);
        this.sendErr(
          `Permissions Violation for Subscription to ${JSON.stringify(sub.subject)} (sid ${JSON.stringify(sub.sid)})`,
        );
      } else if (!perms.filterDeliveries && perms.set.needsDeliveryFilter(sub.subject)) {
        perms.filterDeliveries = true;
      }
    }
  }

  /** Whether an asynchronous INFO may be sent (route.go sendAsyncInfoToClients). */
  get takesInfoUpdates(): boolean {
    return !this.closed && this.connected && this.firstPongSent && this.protocol >= 1;
  }

  /** Queues an INFO line the broker built for this connection. */
  sendInfo(line: string): void {
    if (!this.closed) this.queueString(line, 'utf8');
  }

  private handlePong(): void {
    this.pingsOut = 0;
  }

  private handleErr(op: ParsedOp): void {
    // client.go processErr: a client's -ERR closes its connection.
    this.host.log('debug', 'client sent -ERR', { cid: this.cid, error: op.arg });
    this.close('client -ERR');
  }

  private handleSub(op: ParsedOp): void {
    const { subject, queue, sid } = op;
    const perms = this.perms;
    this.lastActivity = this.lastIn;
    if (perms && !perms.set.canSubscribe(subject, queue)) {
      this.sendErr(
        queue === ''
          ? `Permissions Violation for Subscription to ${JSON.stringify(subject)}`
          : `Permissions Violation for Subscription to ${JSON.stringify(subject)} using queue ${JSON.stringify(queue)}`,
      );
      return;
    }
    const max = this.host.options.maxSubscriptions;
    if (max > 0 && this.subs.size >= max) {
      this.sendErr(ServerErrorText.MaxSubscriptions);
      return;
    }
    // A SUB reusing a live sid keeps the existing subscription (client.go processSub).
    if (!this.subs.has(sid)) {
      const sub = new Subscription<Connection>(this, subject, queue, sid);
      if (!this.sublist.insert(sub)) {
        this.sendErr(ServerErrorText.InvalidSubject);
        return;
      }
      this.subs.set(sid, sub);
      this.host.stats.subscriptions++;
      if (perms && !perms.filterDeliveries && perms.set.needsDeliveryFilter(subject)) {
        perms.filterDeliveries = true;
      }
    }
    if (this.verbose) this.queueString(OK_LINE);
  }

  private handleUnsub(op: ParsedOp): void {
    const sub = this.subs.get(op.sid);
    if (sub) {
      // client.go processUnsub: a max above what was already delivered sets the limit; else remove now.
      if (op.max > 0 && op.max > sub.delivered) sub.max = op.max;
      else this.removeSub(sub);
    }
    if (this.verbose) this.queueString(OK_LINE);
  }

  private handlePub(op: ParsedOp): void {
    const host = this.host;
    const stats = host.stats;
    stats.inMsgs++;
    stats.inBytes += op.size;
    this.inMsgs++;
    this.inBytes += op.size;
    this.lastActivity = this.lastIn;
    const subject = op.subject;
    const reply = op.reply;
    // The cached MSG tail is valid only across a run of identical control lines.
    if (!op.repeat) this.lastTail = '';
    if (this.pedantic && !isValidLiteralSubject(subject)) {
      // client.go processPub: reported, yet the message is still processed.
      this.sendErr(ServerErrorText.InvalidPublishSubject);
    }
    const perms = this.perms;
    if (perms && !perms.canPublish(subject, Date.now())) {
      this.sendErr(`Permissions Violation for Publish to ${JSON.stringify(subject)}`);
      return;
    }
    if (reply !== '' && isReservedReply(reply)) {
      this.sendErr(`Permissions Violation for Publish with Reply of ${JSON.stringify(reply)}`);
      return;
    }
    if (this.verbose) this.queueString(OK_LINE);

    const r = this.sublist.match(subject);
    // The part of the MSG/HMSG line after the sid, built once per message (client.go pa.szb),
    // and reused while the publisher repeats the same control line.
    let tail = this.lastTail;
    if (tail === '') {
      tail =
        op.hdr >= 0
          ? (reply === '' ? '' : reply + ' ') + op.hdrText + ' ' + op.sizeText + '\r\n'
          : (reply === '' ? '' : reply + ' ') + op.sizeText + '\r\n';
      this.lastTail = tail;
    }
    let delivered = false;
    const psubs = r.psubs;
    for (let k = 0; k < psubs.length; k++) {
      const sub = psubs[k];
      const to = sub.owner;
      if (to === this && !this.echo) continue;
      if (to.deliver(sub, op, tail)) delivered = true;
    }
    const qsubs = r.qsubs;
    for (let g = 0; g < qsubs.length; g++) {
      const group = qsubs[g];
      const n = group.length;
      // One member per group, starting at a random index; skip members that cannot take it.
      const start = n === 1 ? 0 : Math.floor(Math.random() * n);
      for (let j = 0; j < n; j++) {
        const sub = group[(start + j) % n];
        const to = sub.owner;
        if (to === this && !this.echo) continue;
        if (to.deliver(sub, op, tail)) {
          delivered = true;
          break;
        }
      }
    }
    if (!delivered && reply !== '' && this.noResponders && !this.closed) {
      this.sendNoResponders(reply);
    }
  }

  /** client.go: an empty 503 status on the publisher's own subscription matching the reply. */
  private sendNoResponders(reply: string): void {
    const psubs = this.sublist.match(reply).psubs;
    for (let k = 0; k < psubs.length; k++) {
      const sub = psubs[k];
      if (sub.owner === this && !sub.closed) {
        this.queueString(`HMSG ${reply}${sub.sidPart}16 16\r\nNATS/1.0 503\r\n\r\n\r\n`);
        return;
      }
    }
  }

  /** Writes one message to this (receiving) connection; false if it was not delivered. */
  deliver(sub: Subscription<Connection>, op: ParsedOp, tail: string): boolean {
    if (this.closed || sub.closed) return false;
    const perms = this.perms;
    if (perms?.filterDeliveries && perms.set.deliveryDenied(op.subject)) return false;
    sub.delivered++;
    if (sub.max > 0 && sub.delivered > sub.max) {
      this.removeSub(sub);
      return false;
    }
    if (perms?.tracksReplies && op.reply !== '') perms.trackReply(op.reply, Date.now());
    let payload = op.payload;
    let ok: boolean;
    if (!op.repeat && (op.hdr < 0 || this.headers)) {
      // One-off lines (e.g. requests with unique reply subjects) are framed directly.
      ok = this.queueMessage(op.hdr < 0 ? 'MSG ' : 'HMSG ', op.subject, sub.sidPart, tail, payload);
    } else if (op.hdr < 0 || this.headers) {
      const verb = op.hdr < 0 ? 'MSG ' : 'HMSG ';
      let head = sub.head;
      if (
        head === null ||
        sub.headSubject !== op.subject ||
        sub.headTail !== tail ||
        sub.headVerb !== verb
      ) {
        head = Buffer.from(verb + op.subject + sub.sidPart + tail, 'latin1');
        sub.head = head;
        sub.headSubject = op.subject;
        sub.headTail = tail;
        sub.headVerb = verb;
      }
      ok = this.queueFramed(head, payload);
    } else {
      // A client without headers gets the message body only (client.go deliverMsg strips them).
      payload = payload.subarray(op.hdr);
      const plain = (op.reply === '' ? '' : op.reply + ' ') + String(payload.length) + '\r\n';
      ok = this.queueMessage('MSG ', op.subject, sub.sidPart, plain, payload);
    }
    if (!ok) return false;
    const stats = this.host.stats;
    stats.outMsgs++;
    stats.outBytes += payload.length;
    this.outMsgs++;
    this.outBytes += payload.length;
    if (sub.max > 0 && sub.delivered >= sub.max) this.removeSub(sub);
    return true;
  }

  private removeSub(sub: Subscription<Connection>): void {
    if (sub.closed) return;
    sub.closed = true;
    this.subs.delete(sub.sid);
    this.sublist.remove(sub);
    this.host.stats.subscriptions--;
  }

  // ---- timers ----

  private onPingTimer(): void {
    if (this.closed) return;
    const interval = this.host.options.pingInterval;
    // client.go processPingTimer: no PING while the client was recently active.
    if (Date.now() - this.lastIn < interval) return;
    if (this.pingsOut + 1 > this.host.options.maxPingsOut) {
      this.closeWithError(ServerErrorText.StaleConnection);
      return;
    }
    this.pingsOut++;
    this.queueString(PING_LINE);
  }

  // ---- outbound ----

  /** Room for n more bytes, or false after closing this client as a slow consumer. */
  private reserve(n: number, uncopied = 0): boolean {
    const need = this.outPos + n;
    if (need + uncopied + this.stream.writableLength > this.host.options.maxPending) {
      this.slowConsumer();
      return false;
    }
    if (need > this.out.length) {
      const next = Buffer.allocUnsafe(Math.max(OUT_INITIAL, need, this.out.length * 2));
      if (this.outPos > 0) this.out.copy(next, 0, 0, this.outPos);
      this.out = next;
    }
    return true;
  }

  private queueString(s: string, encoding: BufferEncoding = 'latin1'): void {
    if (this.closed && this.streamClosed) return;
    const n = encoding === 'latin1' ? s.length : Buffer.byteLength(s, encoding);
    if (!this.reserve(n)) return;
    this.outPos += this.out.write(s, this.outPos, encoding);
    this.markDirty();
  }

  /** Queues a prebuilt MSG/HMSG line head, the payload and CRLF. */
  private queueFramed(head: Buffer, payload: Buffer): boolean {
    const plen = payload.length;
    const hlen = head.length;
    if (plen >= DIRECT_WRITE_MIN || !this.reserve(hlen + plen + 2)) {
      return (
        plen >= DIRECT_WRITE_MIN && this.queueMessage('', head.toString('latin1'), '', '', payload)
      );
    }
    const out = this.out;
    let pos = this.outPos;
    if (hlen > 24) out.set(head, pos);
    else for (let i = 0; i < hlen; i++) out[pos + i] = head[i];
    pos += hlen;
    if (plen > 32) out.set(payload, pos);
    else for (let i = 0; i < plen; i++) out[pos + i] = payload[i];
    pos += plen;
    out[pos++] = 13;
    out[pos++] = 10;
    this.outPos = pos;
    this.markDirty();
    return true;
  }

  /** Queues `<verb><subject><sidPart><tail><payload>\r\n`, the MSG/HMSG framing. */
  private queueMessage(
    verb: string,
    subject: string,
    sidPart: string,
    tail: string,
    payload: Buffer,
  ): boolean {
    const plen = payload.length;
    const head = verb.length + subject.length + sidPart.length + tail.length;
    const direct = plen >= DIRECT_WRITE_MIN;
    if (!this.reserve(direct ? head + 2 : head + plen + 2, direct ? plen : 0)) return false;
    let out = this.out;
    let pos = putLatin1(out, this.outPos, verb);
    pos = putLatin1(out, pos, subject);
    pos = putLatin1(out, pos, sidPart);
    pos = putLatin1(out, pos, tail);
    if (direct) {
      // Large payloads go out as their own chunk rather than being copied per receiver.
      this.outPos = pos;
      this.flush();
      this.writeChunk(payload);
      if (!this.reserve(2)) return false;
      out = this.out;
      pos = this.outPos;
    } else if (plen > 32) {
      out.set(payload, pos);
      pos += plen;
    } else {
      for (let i = 0; i < plen; i++) out[pos + i] = payload[i];
      pos += plen;
    }
    out[pos++] = 13;
    out[pos++] = 10;
    this.outPos = pos;
    this.markDirty();
    return true;
  }

  private markDirty(): void {
    if (!this.dirty) {
      this.dirty = true;
      this.host.markDirty(this);
    }
  }

  /** Writes everything queued in one write (called once per tick by the host). */
  flush(): void {
    this.dirty = false;
    const n = this.outPos;
    if (n === 0 || this.streamClosed) return;
    let data: Buffer;
    if (n <= COPY_FLUSH_MAX) {
      data = Buffer.allocUnsafe(n);
      this.out.copy(data, 0, 0, n);
    } else {
      data = this.out.subarray(0, n);
      this.out = Buffer.allocUnsafe(0);
    }
    this.outPos = 0;
    this.writeChunk(data);
  }

  private writeChunk(data: Buffer): void {
    if (this.streamClosed || this.stream.destroyed) return;
    if (!this.stream.write(data) && !this.writeTimer && !this.closed) {
      // A write that stays blocked past the deadline makes this client a slow consumer.
      this.writeTimer = setTimeout(() => {
        this.writeTimer = null;
        if (this.stream.writableLength > 0) this.slowConsumer();
      }, this.host.options.writeDeadline);
      this.writeTimer.unref();
      this.stream.once('drain', () => {
        if (this.writeTimer) {
          clearTimeout(this.writeTimer);
          this.writeTimer = null;
        }
      });
    }
  }

  // ---- closing ----

  private sendErr(text: string): void {
    this.queueString(`-ERR '${text}'\r\n`);
  }

  /** Sends -ERR then closes, as nats-server does for fatal protocol errors. */
  /**
   * client.go setExpiration and accounts.go expiredTimeout: the connection is closed when its user
   * JWT expires ('User Authentication Expired') or its account's does ('Account Authentication Expired').
   */
  private expireAt(res: AuthResult): void {
    const user = res.expiresAt ?? Infinity;
    const account = res.accountExpiresAt ?? Infinity;
    const at = Math.min(user, account);
    if (at === Infinity) return;
    const text = account <= user ? ServerErrorText.AccountAuthExpired : ServerErrorText.AuthExpired;
    this.expireTimer = setTimeout(
      () => this.closeWithError(text),
      Math.max(0, Math.min(at - Date.now(), 2 ** 31 - 1)),
    );
    this.expireTimer.unref();
  }

  closeWithError(text: string): void {
    if (this.closed) return;
    this.sendErr(text);
    this.close(text);
  }

  private slowConsumer(): void {
    if (this.closed) return;
    this.host.stats.slowConsumers++;
    this.host.log('warn', 'slow consumer detected, closing', { cid: this.cid, name: this.name });
    // No -ERR: nats-server just closes a slow consumer; pending output is dropped.
    this.outPos = 0;
    this.close('slow consumer', true);
  }

  /** Closes the connection: flush what is queued (unless `abort`), end the stream, drop subs. */
  close(reason: string, abort = false): void {
    if (this.closed) {
      if (abort && !this.stream.destroyed) this.stream.destroy();
      return;
    }
    this.closed = true;
    this.parser.stop();
    for (const t of [this.pingTimer, this.authTimer, this.writeTimer, this.expireTimer]) {
      if (t) clearTimeout(t);
    }
    this.pingTimer = this.authTimer = this.writeTimer = this.expireTimer = null;
    for (const sub of this.subs.values()) {
      sub.closed = true;
      this.sublist.remove(sub);
      this.host.stats.subscriptions--;
    }
    this.subs.clear();
    this.host.removeConnection(this);
    if (this.account !== '') this.host.leaveAccount(this);
    this.host.log('debug', 'client closed', { cid: this.cid, reason });
    if (abort || this.stream.destroyed) {
      this.stream.destroy();
      return;
    }
    this.flush();
    this.stream.end();
    const grace = setTimeout(() => this.stream.destroy(), CLOSE_GRACE_MS);
    grace.unref();
    this.stream.once('finish', () => {
      clearTimeout(grace);
      this.stream.destroy();
    });
  }

  private onStreamClose(): void {
    this.streamClosed = true;
    this.close('stream closed', true);
    this.closedResolve?.();
    this.closedResolve = null;
  }
}
