// The client protocol parser: a pure state machine fed bytes, modelled on nats-server's
// server/parser.go. Verbs are matched byte by byte (case-insensitive, so errors surface at the
// first bad byte as in nats-server); argument lines are found with indexOf and decoded as latin1,
// which is byte-transparent; payloads are zero-copy subarrays when they arrive in one chunk.

/** Operations a client may send. */
export const OpKind = {
  Pub: 1,
  Hpub: 2,
  Sub: 3,
  Unsub: 4,
  Connect: 5,
  Ping: 6,
  Pong: 7,
  Ok: 8,
  Err: 9,
  Info: 10,
} as const;
export type OpKind = (typeof OpKind)[keyof typeof OpKind];

/** Why parsing stopped. Each maps to one reaction of nats-server (see client.ts). */
export const ParseErrorKind = {
  /** -ERR 'Unknown Protocol Operation', close. Also a payload whose declared length lies. */
  UnknownOp: 1,
  /** -ERR 'maximum control line exceeded', close. */
  MaxControlLine: 2,
  /** -ERR 'Maximum Payload Violation', close. */
  MaxPayload: 3,
  /** Malformed arguments (wrong count, bad size): nats-server closes without -ERR. */
  BadArgs: 4,
  /** An operation other than CONNECT while CONNECT is required: 'Authorization Violation'. */
  AuthViolation: 5,
  /** HPUB on a connection that did not negotiate headers: close without -ERR. */
  HeadersNotSupported: 6,
} as const;
export type ParseErrorKind = (typeof ParseErrorKind)[keyof typeof ParseErrorKind];

/** One parsed operation. The parser reuses a single instance: read it before returning. */
export interface ParsedOp {
  kind: OpKind;
  subject: string;
  reply: string;
  queue: string;
  sid: string;
  /** Raw decimal size text of PUB/HPUB (total size), echoed back in MSG as nats-server does. */
  sizeText: string;
  /** Raw decimal header size text of HPUB. */
  hdrText: string;
  /** Payload length in bytes (total, headers included). */
  size: number;
  /** Header length for HPUB, -1 for PUB. */
  hdr: number;
  /** UNSUB max, or -1 when absent or invalid. */
  max: number;
  /** CONNECT JSON, INFO JSON or -ERR text, as latin1. */
  arg: string;
  /** PUB/HPUB payload, headers included. */
  payload: Buffer;
  /**
   * True when this PUB/HPUB control line was byte-identical to the previous one, so every
   * field (and its string identity) is the same: callers may reuse work keyed on it.
   */
  repeat: boolean;
}

export interface ParserSink {
  onOp(op: ParsedOp): void;
  onParseError(kind: ParseErrorKind): void;
}

export interface ParserLimits {
  maxControlLine: number;
  maxPayload: number;
}

const S = {
  Start: 0,
  P: 1,
  Verb: 2,
  AfterVerb: 3,
  SkipSpace: 4,
  Arg: 5,
  SkipLine: 6,
  Payload: 7,
  Dead: 8,
} as const;
type S = (typeof S)[keyof typeof S];

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const TAB = 0x09;

// Uppercase spellings; `pos` counts bytes matched so far.
const VERB_TEXT: Record<OpKind, string> = {
  [OpKind.Pub]: 'PUB',
  [OpKind.Hpub]: 'HPUB',
  [OpKind.Sub]: 'SUB',
  [OpKind.Unsub]: 'UNSUB',
  [OpKind.Connect]: 'CONNECT',
  [OpKind.Ping]: 'PING',
  [OpKind.Pong]: 'PONG',
  [OpKind.Ok]: '+OK',
  [OpKind.Err]: '-ERR',
  [OpKind.Info]: 'INFO',
};

const EMPTY = Buffer.alloc(0);
const LAST_LINE_MAX = 256;

/** Parses a decimal size as nats-server's parseSize: digits only, at most 9 of them, else -1. */
export function parseSize(text: string): number {
  const n = text.length;
  if (n === 0 || n > 9) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

export class Parser {
  /** When true, any first byte other than 'C' is an authorization violation (parser.go OP_START). */
  requireConnect = false;
  /** Whether HPUB is allowed (the client's CONNECT negotiated headers). */
  private headersOk = false;

  private state: S = S.Start;
  private verb: OpKind = OpKind.Ping;
  private verbPos = 0;
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private payloadBuf: Buffer = EMPTY;
  private payloadFill = 0;
  private readonly args: string[] = [];
  // The last PUB/HPUB control line, to skip re-parsing a repeated one (publishers usually
  // send runs of messages to one subject); strings are kept so Map lookups reuse their hash.
  private readonly lastLine = new Uint8Array(LAST_LINE_MAX);
  private lastLen = -1;
  private lastVerb: OpKind = OpKind.Ping;
  private lastSubject = '';
  private lastReply = '';
  private lastSizeText = '';
  private lastHdrText = '';
  private lastSize = 0;
  private lastHdr = -1;
  private readonly op: ParsedOp = {
    kind: OpKind.Ping,
    subject: '',
    reply: '',
    queue: '',
    sid: '',
    sizeText: '',
    hdrText: '',
    size: 0,
    hdr: -1,
    max: -1,
    arg: '',
    payload: EMPTY,
    repeat: false,
  };

  constructor(
    private readonly sink: ParserSink,
    private readonly limits: ParserLimits,
  ) {}

  /** Whether HPUB is allowed (the client's CONNECT negotiated headers). */
  get headers(): boolean {
    return this.headersOk;
  }

  set headers(v: boolean) {
    this.headersOk = v;
    this.lastLen = -1;
  }

  /** True once a parse error stopped the parser (or `stop()` was called). */
  get stopped(): boolean {
    return this.state === S.Dead;
  }

  /** Stops parsing, e.g. when the connection closes while an operation is handled. */
  stop(): void {
    this.state = S.Dead;
    this.pending = [];
    this.payloadBuf = EMPTY;
  }

  /** Feeds a chunk; operations are emitted synchronously to the sink. */
  feed(buf: Buffer): void {
    const len = buf.length;
    let i = 0;
    while (i < len) {
      switch (this.state) {
        case S.Dead:
          return;
        case S.Start: {
          // Fast path for the common upper-case "PUB " (the state machine below handles the rest).
          if (
            buf[i] === 0x50 &&
            i + 4 <= len &&
            buf[i + 1] === 0x55 &&
            buf[i + 2] === 0x42 &&
            buf[i + 3] === SPACE &&
            !this.requireConnect
          ) {
            this.verb = OpKind.Pub;
            this.state = S.SkipSpace;
            i += 4;
            break;
          }
          const b = buf[i++];
          if (this.requireConnect && b !== 0x43 && b !== 0x63) {
            this.fail(ParseErrorKind.AuthViolation);
            return;
          }
          switch (b | 0x20) {
            case 0x70: // p
              this.state = S.P;
              break;
            case 0x68: // h
              this.startVerb(OpKind.Hpub);
              break;
            case 0x73: // s
              this.startVerb(OpKind.Sub);
              break;
            case 0x75: // u
              this.startVerb(OpKind.Unsub);
              break;
            case 0x63: // c
              this.startVerb(OpKind.Connect);
              break;
            case 0x69: // i
              this.startVerb(OpKind.Info);
              break;
            default:
              if (b === 0x2b) this.startVerb(OpKind.Ok);
              else if (b === 0x2d) this.startVerb(OpKind.Err);
              else {
                this.fail(ParseErrorKind.UnknownOp);
                return;
              }
          }
          break;
        }
        case S.P: {
          const b = buf[i++] | 0x20;
          if (b === 0x75) this.startVerb(OpKind.Pub);
          else if (b === 0x69) this.startVerb(OpKind.Ping);
          else if (b === 0x6f) this.startVerb(OpKind.Pong);
          else {
            this.fail(ParseErrorKind.UnknownOp);
            return;
          }
          this.verbPos = 2;
          break;
        }
        case S.Verb: {
          const text = VERB_TEXT[this.verb];
          const b = buf[i++];
          const want = text.charCodeAt(this.verbPos);
          // Letters compare case-insensitively; '+' and '-' never reach here past position 0.
          if (b !== want && (b | 0x20) !== (want | 0x20)) {
            this.fail(ParseErrorKind.UnknownOp);
            return;
          }
          if (++this.verbPos === text.length) this.state = S.AfterVerb;
          break;
        }
        case S.AfterVerb: {
          const b = buf[i];
          switch (this.verb) {
            case OpKind.Ping:
            case OpKind.Pong:
            case OpKind.Ok:
              // nats-server ignores anything up to the newline after these verbs.
              this.state = S.SkipLine;
              break;
            case OpKind.Connect:
            case OpKind.Info:
              if (b === SPACE || b === TAB) i++;
              else this.state = S.Arg;
              break;
            default:
              if (b !== SPACE && b !== TAB) {
                this.fail(ParseErrorKind.UnknownOp);
                return;
              }
              i++;
              this.state = S.SkipSpace;
          }
          break;
        }
        case S.SkipSpace: {
          const b = buf[i];
          if (b === SPACE || b === TAB) i++;
          else this.state = S.Arg;
          break;
        }
        case S.SkipLine: {
          const nl = buf.indexOf(LF, i);
          if (nl === -1) return;
          i = nl + 1;
          this.state = S.Start;
          this.emitSimple();
          break;
        }
        case S.Arg: {
          const nl = buf.indexOf(LF, i);
          if (nl === -1) {
            this.pending.push(buf.subarray(i));
            this.pendingLen += len - i;
            if (this.pendingLen > this.limits.maxControlLine)
              this.fail(ParseErrorKind.MaxControlLine);
            return;
          }
          const verb = this.verb;
          if (
            this.pendingLen === 0 &&
            verb === this.lastVerb &&
            nl - i === this.lastLen &&
            (verb === OpKind.Pub || verb === OpKind.Hpub)
          ) {
            const prev = this.lastLine;
            let k = 0;
            const n = this.lastLen;
            while (k < n && buf[i + k] === prev[k]) k++;
            if (k === n) {
              const op = this.op;
              op.kind = verb;
              op.subject = this.lastSubject;
              op.reply = this.lastReply;
              op.sizeText = this.lastSizeText;
              op.hdrText = this.lastHdrText;
              op.size = this.lastSize;
              op.hdr = this.lastHdr;
              op.repeat = true;
              i = nl + 1;
              this.state = S.Payload;
              i = this.startPayload(buf, i);
              if (i < 0) return;
              break;
            }
          }
          const lineStart = i;
          const whole = this.pendingLen === 0;
          let line: string;
          if (whole) {
            line = buf.toString('latin1', i, nl);
          } else {
            this.pending.push(buf.subarray(i, nl));
            line = Buffer.concat(this.pending).toString('latin1');
            this.pending = [];
            this.pendingLen = 0;
          }
          i = nl + 1;
          if (line.charCodeAt(line.length - 1) === CR) line = line.substring(0, line.length - 1);
          if (line.length > this.limits.maxControlLine) {
            this.fail(ParseErrorKind.MaxControlLine);
            return;
          }
          this.state = S.Start;
          this.op.repeat = false;
          this.processArgs(line);
          // processArgs may have moved the state on (TS cannot see that through the call).
          const next = this.state as S;
          if (next === S.Dead) return;
          if (next === S.Payload) {
            const lineLen = nl - lineStart;
            if (whole && lineLen <= LAST_LINE_MAX) {
              this.remember(buf, lineStart, lineLen);
            } else {
              this.lastLen = -1;
            }
            i = this.startPayload(buf, i);
            if (i < 0) return;
          }
          break;
        }
        case S.Payload: {
          const need = this.payloadBuf.length;
          const take = Math.min(need - this.payloadFill, len - i);
          buf.copy(this.payloadBuf, this.payloadFill, i, i + take);
          const before = this.payloadFill;
          this.payloadFill += take;
          i += take;
          // Check the trailing CRLF as soon as each byte arrives, like MSG_END_R / MSG_END_N.
          const size = need - 2;
          if (before <= size && this.payloadFill > size && this.payloadBuf[size] !== CR) {
            this.fail(ParseErrorKind.UnknownOp);
            return;
          }
          if (this.payloadFill === need) {
            if (this.payloadBuf[size + 1] !== LF) {
              this.fail(ParseErrorKind.UnknownOp);
              return;
            }
            this.op.payload = this.payloadBuf.subarray(0, size);
            this.payloadBuf = EMPTY;
            this.state = S.Start;
            this.sink.onOp(this.op);
          }
          break;
        }
      }
    }
  }

  private remember(buf: Buffer, start: number, n: number): void {
    const op = this.op;
    for (let k = 0; k < n; k++) this.lastLine[k] = buf[start + k];
    this.lastLen = n;
    this.lastVerb = op.kind;
    this.lastSubject = op.subject;
    this.lastReply = op.reply;
    this.lastSizeText = op.sizeText;
    this.lastHdrText = op.hdrText;
    this.lastSize = op.size;
    this.lastHdr = op.hdr;
  }

  /**
   * Starts a payload at `i`: emits it at once (a zero-copy view) when the chunk holds all of it,
   * else begins collecting. Returns the next index, or -1 when parsing stopped.
   */
  private startPayload(buf: Buffer, i: number): number {
    const need = this.op.size + 2;
    if (buf.length - i >= need) {
      if (buf[i + need - 2] !== CR || buf[i + need - 1] !== LF) {
        this.fail(ParseErrorKind.UnknownOp);
        return -1;
      }
      this.op.payload = buf.subarray(i, i + this.op.size);
      this.state = S.Start;
      this.sink.onOp(this.op);
      return i + need;
    }
    this.payloadBuf = Buffer.allocUnsafe(need);
    this.payloadFill = 0;
    return i;
  }

  private startVerb(kind: OpKind): void {
    this.verb = kind;
    this.verbPos = 1;
    this.state = S.Verb;
  }

  private fail(kind: ParseErrorKind): void {
    this.stop();
    this.sink.onParseError(kind);
  }

  private emitSimple(): void {
    this.op.kind = this.verb;
    this.sink.onOp(this.op);
  }

  /** Splits on spaces and tabs, dropping empty fields, as nats-server's arg loops do. */
  private split(line: string): number {
    const args = this.args;
    let n = 0;
    let start = -1;
    const len = line.length;
    for (let j = 0; j < len; j++) {
      const c = line.charCodeAt(j);
      if (c === SPACE || c === TAB || c === CR || c === LF) {
        if (start !== -1) {
          args[n++] = line.substring(start, j);
          start = -1;
          if (n > 5) return n;
        }
      } else if (start === -1) {
        start = j;
      }
    }
    if (start !== -1) args[n++] = line.substring(start);
    return n;
  }

  private processArgs(line: string): void {
    const op = this.op;
    const args = this.args;
    op.kind = this.verb;
    switch (this.verb) {
      case OpKind.Pub: {
        const n = this.split(line);
        if (n === 2) {
          op.subject = args[0];
          op.reply = '';
          op.sizeText = args[1];
        } else if (n === 3) {
          op.subject = args[0];
          op.reply = args[1];
          op.sizeText = args[2];
        } else {
          this.fail(ParseErrorKind.BadArgs);
          return;
        }
        op.size = parseSize(op.sizeText);
        op.hdr = -1;
        op.hdrText = '';
        if (op.size < 0) {
          this.fail(ParseErrorKind.BadArgs);
          return;
        }
        if (op.size > this.limits.maxPayload) {
          this.fail(ParseErrorKind.MaxPayload);
          return;
        }
        this.state = S.Payload;
        return;
      }
      case OpKind.Hpub: {
        // client.go processHeaderPub: refused before anything else when headers were not negotiated.
        if (!this.headersOk) {
          this.fail(ParseErrorKind.HeadersNotSupported);
          return;
        }
        const n = this.split(line);
        if (n === 3) {
          op.subject = args[0];
          op.reply = '';
          op.hdrText = args[1];
          op.sizeText = args[2];
        } else if (n === 4) {
          op.subject = args[0];
          op.reply = args[1];
          op.hdrText = args[2];
          op.sizeText = args[3];
        } else {
          this.fail(ParseErrorKind.BadArgs);
          return;
        }
        op.hdr = parseSize(op.hdrText);
        op.size = parseSize(op.sizeText);
        if (op.hdr < 0 || op.size < 0 || op.hdr > op.size) {
          this.fail(ParseErrorKind.BadArgs);
          return;
        }
        if (op.size > this.limits.maxPayload) {
          this.fail(ParseErrorKind.MaxPayload);
          return;
        }
        // A zero header size means no headers: nats-server delivers it as a plain MSG.
        if (op.hdr === 0) op.hdr = -1;
        this.state = S.Payload;
        return;
      }
      case OpKind.Sub: {
        const n = this.split(line);
        if (n === 2) {
          op.subject = args[0];
          op.queue = '';
          op.sid = args[1];
        } else if (n === 3) {
          op.subject = args[0];
          op.queue = args[1];
          op.sid = args[2];
        } else {
          this.fail(ParseErrorKind.BadArgs);
          return;
        }
        break;
      }
      case OpKind.Unsub: {
        const n = this.split(line);
        if (n === 1) {
          op.sid = args[0];
          op.max = -1;
        } else if (n === 2) {
          op.sid = args[0];
          op.max = parseSize(args[1]);
        } else {
          this.fail(ParseErrorKind.BadArgs);
          return;
        }
        break;
      }
      default:
        op.arg = line;
    }
    this.sink.onOp(op);
  }
}
