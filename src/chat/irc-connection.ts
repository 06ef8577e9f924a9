import { Client, type PrivmsgEvent } from 'irc-framework';
import { DEFAULT_RATE_LIMIT, LineRateLimiter, type RateLimitOptions } from './rate-limiter.js';

// The chat bridge's IRC connection (irc-framework does the protocol): registers, joins the one
// channel, hands on what people say there, and writes lines back through the flood limiter.
// It reconnects by itself, with backoff, for as long as it runs (irc-framework's own reconnect
// gives up after a few tries, and only once a connection lasted 5 s), and joins again each time.

export interface IrcConnectionOptions {
  readonly host: string;
  readonly port: number;
  /** TLS to the server (certificate checked against the system's CAs). */
  readonly tls: boolean;
  readonly nick: string;
  /** `#ops` */
  readonly channel: string;
  /** Channel key, if the channel has one. */
  readonly channelKey?: string;
  /** Server password (PASS), if the server wants one. */
  readonly password?: string;
  readonly rateLimit?: RateLimitOptions;
  /** First wait before a reconnect, in ms; doubled up to `reconnectMaxMs`; default 1000 ms. */
  readonly reconnectMinMs?: number;
  /** Longest wait between reconnects, in ms; default 60000 ms. */
  readonly reconnectMaxMs?: number;
  /** Where the connection's life is told (connected, joined, lost, …). */
  readonly onEvent?: (event: IrcEvent) => void;
}

export type IrcEvent =
  | { readonly type: 'connecting'; readonly attempt: number }
  | { readonly type: 'registered'; readonly nick: string }
  | { readonly type: 'joined'; readonly channel: string }
  | { readonly type: 'disconnected'; readonly retryInMs: number }
  | { readonly type: 'dropped'; readonly lines: number };

/** Someone said something: in the channel, or to the bridge alone (`private`). */
export interface IrcMessage {
  readonly nick: string;
  readonly user: string;
  readonly host: string;
  /** The services account (IRCv3 account-tag), when the server says. */
  readonly account?: string;
  readonly text: string;
  readonly private: boolean;
}

/** Bytes of text per line: the server adds `:nick!user@host PRIVMSG #chan :` within its 512. */
export const MAX_LINE_BYTES = 380;

/**
 * One line as it may go on the wire: control characters (CR and LF above all: they would end
 * the PRIVMSG and start a command of the sender's choosing) become spaces, and the text is cut
 * to `MAX_LINE_BYTES` of UTF-8 on a character boundary.
 */
export function ircSafeLine(text: string, maxBytes = MAX_LINE_BYTES): string {
  // eslint-disable-next-line no-control-regex
  let s = text.replace(/[\u0000-\u001f\u007f]/g, ' ');
  if (Buffer.byteLength(s, 'utf8') <= maxBytes) return s;
  const ellipsis = '…';
  let bytes = Buffer.byteLength(ellipsis, 'utf8');
  let out = '';
  for (const ch of s) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > maxBytes) break;
    bytes += n;
    out += ch;
  }
  s = out + ellipsis;
  return s;
}

const caseFold = (s: string): string =>
  s.toLowerCase().replace(/\[/g, '{').replace(/\]/g, '}').replace(/\\/g, '|').replace(/~/g, '^');

/** IRC names compare case-insensitively, `[]\~` as `{}|^` (RFC 2812 section 2.2). */
export function ircEqual(a: string, b: string): boolean {
  return caseFold(a) === caseFold(b);
}

export class IrcConnection {
  private readonly client = new Client();
  private readonly limiter: LineRateLimiter;
  private closed = false;
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private inChannel = false;
  private handler: ((m: IrcMessage) => void) | undefined;

  constructor(private readonly options: IrcConnectionOptions) {
    this.limiter = new LineRateLimiter(options.rateLimit ?? DEFAULT_RATE_LIMIT);
    const c = this.client;
    c.on('registered', () => {
      this.attempt = 0;
      this.emit({ type: 'registered', nick: c.user.nick });
      c.join(options.channel, options.channelKey);
    });
    c.on('join', (e) => {
      if (ircEqual(e.nick, c.user.nick) && ircEqual(e.channel, options.channel)) {
        this.inChannel = true;
        this.emit({ type: 'joined', channel: e.channel });
      }
    });
    // Kicked or parted: join again (a ban keeps it out, and the server says why).
    c.on('kick', (...args: unknown[]) => {
      const e = args[0] as { kicked?: string; channel?: string };
      if (e.kicked !== undefined && ircEqual(e.kicked, c.user.nick)) {
        this.inChannel = false;
        setTimeout(() => {
          if (!this.closed) c.join(options.channel, options.channelKey);
        }, 1000).unref();
      }
    });
    c.on('nick in use', () => {
      // Our old connection may still hold the nick until the server times it out.
      if (!this.inChannel) c.changeNick(`${c.user.nick}_`);
    });
    c.on('privmsg', (e: PrivmsgEvent) => this.received(e));
    c.on('close', () => this.lost());
  }

  /** The nick the server knows the bridge by now (the configured one, or with `_` added). */
  get nick(): string {
    return this.client.user.nick;
  }

  /** True while the bridge is in its channel. */
  get joined(): boolean {
    return this.inChannel;
  }

  /** Lines dropped by flood control so far. */
  get dropped(): number {
    return this.limiter.dropped;
  }

  onMessage(fn: (m: IrcMessage) => void): void {
    this.handler = fn;
  }

  start(): void {
    this.connect();
  }

  /** Queues a line for the channel; false when flood control dropped it. */
  say(text: string): boolean {
    return this.sendTo(this.options.channel, text);
  }

  /** Queues a NOTICE to one nick (answers to private messages). */
  notice(nick: string, text: string): boolean {
    const line = ircSafeLine(text);
    return this.queue(() => this.client.notice(nick, line));
  }

  async close(message = 'admiral chat bridge stopping'): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.limiter.close();
    if (this.client.connected) {
      const gone = new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        this.client.on('socket close', () => {
          clearTimeout(t);
          resolve();
        });
      });
      this.client.quit(message);
      await gone;
    }
    this.client.removeAllListeners();
  }

  private sendTo(target: string, text: string): boolean {
    const line = ircSafeLine(text);
    if (line.trim() === '') return true;
    return this.queue(() => {
      if (this.inChannel) this.client.say(target, line);
    });
  }

  private queue(send: () => void): boolean {
    const before = this.limiter.dropped;
    const ok = this.limiter.push(send);
    if (!ok && this.limiter.dropped === before + 1 && before % 50 === 0) {
      this.emit({ type: 'dropped', lines: this.limiter.dropped });
    }
    return ok;
  }

  private received(e: PrivmsgEvent): void {
    if (e.from_server === true || this.handler === undefined) return;
    const toChannel = ircEqual(e.target, this.options.channel);
    const toMe = ircEqual(e.target, this.client.user.nick);
    if (!toChannel && !toMe) return;
    this.handler({
      nick: e.nick,
      user: e.ident,
      host: e.hostname,
      ...(typeof e.account === 'string' && e.account !== '' && { account: e.account }),
      text: e.message,
      private: !toChannel,
    });
  }

  private connect(): void {
    if (this.closed) return;
    this.attempt++;
    this.emit({ type: 'connecting', attempt: this.attempt });
    this.client.connect({
      host: this.options.host,
      port: this.options.port,
      tls: this.options.tls,
      nick: this.options.nick,
      username: 'admiral',
      gecos: 'admiral chat bridge',
      ...(this.options.password !== undefined && { password: this.options.password }),
      // Reconnects are ours (see the top of this file).
      auto_reconnect: false,
      // Lines are cut by ircSafeLine; irc-framework must not split them behind flood control.
      message_max_length: 450,
      version: 'admiral',
    });
  }

  private lost(): void {
    this.inChannel = false;
    this.limiter.clear();
    if (this.closed) return;
    const min = this.options.reconnectMinMs ?? 1000;
    const max = this.options.reconnectMaxMs ?? 60_000;
    const wait = Math.min(max, min * 2 ** Math.min(Math.max(0, this.attempt - 1), 16));
    this.emit({ type: 'disconnected', retryInMs: wait });
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  private emit(event: IrcEvent): void {
    this.options.onEvent?.(event);
  }
}
