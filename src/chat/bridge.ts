import { join } from 'node:path';
import type { AdmiralClient } from '../client/connect.js';
import type { Config } from '../config/schema.js';
import type { NodeContext, NodeExtension } from '../node/extension.js';
import type { Logger } from '../observability/logger.js';
import { type Identity, loadOrCreateIdentity } from '../protocol/index.js';
import { type Allowlist, checkAllowEntry, isAllowed } from './allowlist.js';
import { addressedText, ChatCommandError, classOfWord, parseCommand } from './command-parser.js';
import { handleCommand, type HandlerOptions } from './handlers.js';
import { IrcConnection, type IrcEvent, type IrcMessage } from './irc-connection.js';

// The chat bridge: the IRC connection, who may ask what, and the command handlers, put
// together. It signs what it asks central with its own identity (`<dataDir>/chat-irc.seed`),
// which central must trust (`admiral trust add KEY`); it runs inside `admiral up` when
// `chat.irc.server` is set, or alone as `admiral chat irc`.

/** The bridge's identity file in a data dir. */
export const CHAT_IDENTITY_FILE = 'chat-irc.seed';

export type ChatLog = Logger;

export type ChatIrcConfig = Config['chat']['irc'];

/** A chat setting that cannot work (no server, a bad mask). */
export class ChatConfigError extends Error {
  override readonly name = 'ChatConfigError';
  readonly code = 'ADMIRAL_CHAT_CONFIG';
}

export interface ChatBridgeOptions {
  readonly config: ChatIrcConfig;
  /** The fleet, as the bridge's identity. */
  readonly client: AdmiralClient;
  readonly log: ChatLog;
}

/** `host:port` of `chat.irc.server`, checked. */
export function ircServerOf(config: ChatIrcConfig): { host: string; port: number } {
  const server = config.server;
  if (server === undefined) {
    throw new ChatConfigError('Expected chat.irc.server (--server host:port), got none');
  }
  const i = server.lastIndexOf(':');
  const port = Number(server.slice(i + 1));
  const host = server.slice(0, i).replace(/^\[|\]$/g, '');
  if (host === '' || port < 1) {
    throw new ChatConfigError(
      `Expected chat.irc.server to be host:port with a port from 1 to 65535, got ${JSON.stringify(server)}`,
    );
  }
  return { host, port };
}

/** The allowlist of the config, each entry checked. */
export function allowlistOf(config: ChatIrcConfig): Allowlist {
  for (const e of [...config.allow, ...config.allowRead]) {
    try {
      checkAllowEntry(e);
    } catch (err) {
      throw new ChatConfigError(`chat.irc allowlist: ${(err as Error).message}`, { cause: err });
    }
  }
  return { run: config.allow, read: config.allowRead };
}

export class ChatBridge {
  readonly irc: IrcConnection;
  private readonly allow: Allowlist;
  private readonly handlerOptions: HandlerOptions;
  private running = 0;
  private readonly inFlight = new Set<Promise<void>>();

  private constructor(private readonly options: ChatBridgeOptions) {
    const c = options.config;
    const { host, port } = ircServerOf(c);
    this.allow = allowlistOf(c);
    this.handlerOptions = {
      client: options.client,
      ackWaitS: c.ackWait,
      jobsListed: 5,
      pingTimeoutMs: 2000,
      linesPerNode: c.linesPerNode,
      maxLines: c.maxLines,
      ...(c.jobUrl !== undefined && { jobUrl: c.jobUrl }),
    };
    this.irc = new IrcConnection({
      host,
      port,
      tls: c.tls,
      nick: c.nick,
      channel: c.channel,
      ...(c.channelPassword !== undefined && { channelKey: c.channelPassword }),
      ...(c.password !== undefined && { password: c.password }),
      rateLimit: c.flood,
      reconnectMinMs: c.reconnectMin * 1000,
      reconnectMaxMs: c.reconnectMax * 1000,
      onEvent: (e) => this.event(e),
    });
    this.irc.onMessage((m) => this.message(m));
  }

  /** Starts connecting (and keeps at it); the IRC server need not be up yet. */
  static start(options: ChatBridgeOptions): ChatBridge {
    const bridge = new ChatBridge(options);
    bridge.irc.start();
    return bridge;
  }

  /** The public key central must trust. */
  get publicKey(): string {
    return this.options.client.identity.publicKey;
  }

  async close(): Promise<void> {
    await this.irc.close();
    // Commands still running end on their own (their lines are dropped: the queue is closed).
    await Promise.race([
      Promise.allSettled([...this.inFlight]),
      new Promise((r) => setTimeout(r, 1000).unref()),
    ]);
  }

  private event(e: IrcEvent): void {
    const { log, config } = this.options;
    switch (e.type) {
      case 'connecting':
        log(e.attempt === 1 ? 'info' : 'debug', 'chat: connecting to IRC', {
          server: config.server,
          attempt: e.attempt,
        });
        break;
      case 'registered':
        log('info', 'chat: connected to IRC', { server: config.server, nick: e.nick });
        break;
      case 'joined':
        log('info', 'chat: joined', { channel: e.channel });
        break;
      case 'disconnected':
        log('warn', 'chat: IRC connection lost; reconnecting', {
          server: config.server,
          retryInMs: e.retryInMs,
        });
        break;
      case 'dropped':
        log('warn', 'chat: flood control dropped lines (send queue full)', { total: e.lines });
        break;
    }
  }

  private message(m: IrcMessage): void {
    const cfg = this.options.config;
    const text = m.private ? m.text.trim() : addressedText(m.text, [this.irc.nick, cfg.nick]);
    if (text === undefined) return;
    if (m.private) {
      this.irc.notice(m.nick, `I answer in ${cfg.channel}: ${cfg.nick}: help`);
      return;
    }
    const say = (line: string): void => {
      this.irc.say(line);
    };
    const who = `${m.nick}!${m.user}@${m.host}${m.account !== undefined ? ` (account ${m.account})` : ''}`;
    const cls = classOfWord(text);
    if (cls !== undefined && !isAllowed(this.allow, cls, m)) {
      this.options.log('warn', 'chat: command refused', { from: who, command: text });
      say(
        `${m.nick}: refused: ${who} may not use ${cls === 'read' ? 'read-only' : 'run'} commands here`,
      );
      return;
    }
    let cmd;
    try {
      cmd = parseCommand(text);
    } catch (err) {
      // Whatever the line was, it must not reach irc-framework's event loop as a throw.
      if (!(err instanceof ChatCommandError)) {
        this.options.log('warn', 'chat: command not understood', {
          from: who,
          command: text,
          error: String(err),
        });
      }
      say(`${m.nick}: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (this.running >= cfg.maxConcurrent) {
      say(`${m.nick}: busy: ${this.running} commands are running; try again shortly`);
      return;
    }
    this.options.log('info', 'chat: command', { from: who, command: text });
    this.running++;
    const p = handleCommand(cmd, this.handlerOptions, say, { nick: m.nick, who })
      .catch((err: unknown) => {
        const msg = err instanceof Error ? err.message : String(err);
        this.options.log('warn', 'chat: command failed', { from: who, command: text, error: msg });
        say(`${m.nick}: ${cmd.name} failed: ${msg}`);
      })
      .finally(() => {
        this.running--;
        this.inFlight.delete(p);
      });
    this.inFlight.add(p);
  }
}

/** The bridge's identity in `dataDir`, made on first use. */
export function loadChatIdentity(dataDir: string): Promise<Identity> {
  return loadOrCreateIdentity(join(dataDir, CHAT_IDENTITY_FILE));
}

/** The bridge inside a node, with what `admiral up` prints of it. */
export interface ChatExtension extends NodeExtension {
  /** The bridge's key, once started. */
  readonly publicKey: string | undefined;
  /** `irc://host:port #ops as admiral` */
  describe(): string;
}

/** The bridge inside a node (`admiral up` with `chat.irc.server` set), on the node's connection. */
export function chatExtension(config: Config, log: ChatLog): ChatExtension {
  let bridge: ChatBridge | undefined;
  let publicKey: string | undefined;
  const irc = config.chat.irc;
  // Checked when the node is built, so a bad mask stops `admiral up` at once.
  allowlistOf(irc);
  ircServerOf(irc);
  return {
    name: 'chat-irc',
    get publicKey() {
      return publicKey;
    },
    describe: () => describeIrc(irc),
    async start(ctx: NodeContext) {
      const identity = await loadChatIdentity(ctx.options.dataDir);
      publicKey = identity.publicKey;
      const client: AdmiralClient = {
        nc: ctx.nc,
        subjects: ctx.subjects,
        central: config.centralNode,
        identity,
        localIdentity: false,
        dataDir: ctx.options.dataDir,
        brokerUrl: '',
        close: async () => undefined,
      };
      bridge = ChatBridge.start({ config: irc, client, log });
    },
    async stop() {
      await bridge?.close();
    },
  };
}

/** `irc://host:port #ops as admiral` (ircs:// with TLS). */
export function describeIrc(irc: ChatIrcConfig): string {
  return `${irc.tls ? 'ircs' : 'irc'}://${irc.server ?? '?'} ${irc.channel} as ${irc.nick}`;
}
