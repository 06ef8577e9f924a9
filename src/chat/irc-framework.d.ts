// The part of irc-framework 4.x (no types of its own) that the chat bridge uses.
declare module 'irc-framework' {
  export interface ConnectOptions {
    host: string;
    port: number;
    tls?: boolean;
    rejectUnauthorized?: boolean;
    nick: string;
    username?: string;
    gecos?: string;
    password?: string;
    auto_reconnect?: boolean;
    ping_interval?: number;
    ping_timeout?: number;
    message_max_length?: number;
    version?: string;
  }

  export interface PrivmsgEvent {
    nick: string;
    ident: string;
    hostname: string;
    target: string;
    message: string;
    account?: string;
    from_server?: boolean;
  }

  export interface JoinEvent {
    nick: string;
    channel: string;
  }

  export class Client {
    constructor(options?: Partial<ConnectOptions>);
    user: { nick: string };
    connected: boolean;
    connect(options?: ConnectOptions): void;
    quit(message?: string): void;
    join(channel: string, key?: string): void;
    say(target: string, message: string): void;
    notice(target: string, message: string): void;
    raw(...args: string[]): void;
    changeNick(nick: string): void;
    on(event: 'registered', fn: () => void): this;
    on(event: 'privmsg', fn: (e: PrivmsgEvent) => void): this;
    on(event: 'join', fn: (e: JoinEvent) => void): this;
    on(event: 'close' | 'socket close', fn: (err?: unknown) => void): this;
    on(event: 'nick in use', fn: (e: { nick: string }) => void): this;
    on(event: string, fn: (...args: unknown[]) => void): this;
    removeAllListeners(): this;
  }
}
