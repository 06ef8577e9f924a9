import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';
import { closedTcpPort } from './ports.js';

// A real IRC server for tests: Debian's ngircd on 127.0.0.1 and a free port, with a config made
// in a temp dir, and a plain-socket IRC client that sits in the channel and records what it
// hears. Modelled on nats-server.ts: missing ngircd fails the test with an install hint when
// ADMIRAL_REQUIRE_IRC=1 (set by .ci/run) or CI=true, and skips it otherwise.

export const IRC_SERVER_INSTALL_HINT =
  'ngircd is not installed: apt-get install -y ngircd (Debian ships 26.1)';

export function findNgircd(): string | undefined {
  const dirs = ['/usr/sbin', '/usr/local/sbin', ...(process.env.PATH ?? '').split(delimiter)];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, 'ngircd');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The ngircd binary; undefined (test skipped) when missing, unless CI requires it. */
export function requireIrcServer(t: TestContext): string | undefined {
  const bin = findNgircd();
  if (bin !== undefined) return bin;
  if (process.env.ADMIRAL_REQUIRE_IRC === '1' || process.env.CI === 'true') {
    throw new Error(IRC_SERVER_INSTALL_HINT);
  }
  t.skip(IRC_SERVER_INSTALL_HINT);
  return undefined;
}

export interface IrcServerHandle {
  readonly host: string;
  readonly port: number;
  /** `127.0.0.1:port` */
  readonly address: string;
  /** Stops the server (SIGTERM; SIGKILL after 2 s). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
}

function config(port: number, dir: string, channel: string): string {
  return `[Global]
Name = irc.admiral.test
Info = admiral test server
AdminInfo1 = admiral tests
AdminInfo2 = localhost
AdminEMail = root@localhost
Listen = 127.0.0.1
Ports = ${port}
PidFile = ${join(dir, 'ngircd.pid')}
MotdPhrase = admiral test server
[Limits]
MaxNickLength = 30
PingTimeout = 120
MaxConnectionsIP = 0
[Options]
PAM = no
Ident = no
DNS = no
[Channel]
Name = ${channel}
Modes = +n
`;
}

function waitListening(host: string, port: number, child: ChildProcess, timeoutMs: number) {
  return new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const attempt = (): void => {
      if (child.exitCode !== null) {
        reject(new Error(`ngircd exited with ${child.exitCode}`));
        return;
      }
      const s = connect(port, host);
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`ngircd did not listen on ${host}:${port}`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/** Starts ngircd for the test with `channel` predefined; stopped in t.after. */
export async function startIrcServer(
  t: TestContext,
  channel = '#ops',
): Promise<IrcServerHandle | undefined> {
  const bin = requireIrcServer(t);
  if (bin === undefined) return undefined;
  const dir = await mkdtemp(join(tmpdir(), 'admiral-ngircd-'));
  // ngircd drops root for nobody, which must read its config.
  await chmod(dir, 0o755);
  const port = await closedTcpPort();
  const file = join(dir, 'ngircd.conf');
  await writeFile(file, config(port, dir, channel), { mode: 0o644 });
  let child: ChildProcess | undefined;
  let log = '';
  const handle: IrcServerHandle = {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    async start() {
      const c = spawn(bin, ['-n', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout?.on('data', (d: Buffer) => (log += d.toString()));
      c.stderr?.on('data', (d: Buffer) => (log += d.toString()));
      child = c;
      try {
        await waitListening('127.0.0.1', port, c, 10_000);
      } catch (err) {
        c.kill('SIGKILL');
        throw new Error(`${(err as Error).message}; its output:\n${log}`);
      }
    },
    async stop() {
      const c = child;
      child = undefined;
      if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    },
  };
  await handle.start();
  t.after(async () => {
    await handle.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return handle;
}

/** A PRIVMSG the test client heard. */
export interface Heard {
  readonly from: string;
  readonly target: string;
  readonly text: string;
}

export interface IrcTestClient {
  readonly nick: string;
  /** Every PRIVMSG and NOTICE heard, in order. */
  readonly heard: Heard[];
  /** Every raw line from the server. */
  readonly raw: string[];
  say(target: string, text: string): void;
  /** Sends a raw IRC line. */
  send(line: string): void;
  /** Waits for a message from `from` whose text matches, heard after index `since`. */
  waitFor(
    from: string,
    pattern: RegExp,
    options?: { timeoutMs?: number; since?: number },
  ): Promise<Heard>;
  /** Waits until `nick` is in `channel` (NAMES, or a JOIN seen). */
  waitForJoin(nick: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A plain-socket IRC client in `channel`, for tests (no library: it checks the bridge's). */
export async function ircTestClient(
  t: TestContext,
  server: { host: string; port: number },
  nick: string,
  channel = '#ops',
  user = 'tester',
): Promise<IrcTestClient> {
  const sock: Socket = connect(server.port, server.host);
  sock.setEncoding('utf8');
  const heard: Heard[] = [];
  const raw: string[] = [];
  const present = new Set<string>();
  const listeners = new Set<() => void>();
  let buf = '';
  const send = (line: string): void => {
    sock.write(`${line}\r\n`);
  };
  let joined!: () => void;
  const inChannel = new Promise<void>((r) => (joined = r));
  sock.on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\r\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      raw.push(line);
      const m = /^(?::(\S+) )?(\S+)(?: (.*))?$/.exec(line);
      if (!m) continue;
      const prefix = m[1] ?? '';
      const cmd = m[2]!;
      const params = m[3] ?? '';
      const fromNick = prefix.split('!')[0]!;
      if (cmd === 'PING') send(`PONG ${params}`);
      else if (cmd === '001') send(`JOIN ${channel}`);
      else if (cmd === 'JOIN') {
        present.add(fromNick.toLowerCase());
        if (fromNick === nick) joined();
      } else if (cmd === '353') {
        const names = params.slice(params.indexOf(':') + 1).split(' ');
        for (const n of names) present.add(n.replace(/^[@+]/, '').toLowerCase());
      } else if (cmd === 'PART' || cmd === 'QUIT') present.delete(fromNick.toLowerCase());
      else if (cmd === 'PRIVMSG' || cmd === 'NOTICE') {
        const sp = params.indexOf(' ');
        const target = params.slice(0, sp);
        let text = params.slice(sp + 1);
        if (text.startsWith(':')) text = text.slice(1);
        heard.push({ from: fromNick, target, text });
      }
      for (const l of listeners) l();
    }
  });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', reject);
  });
  send(`NICK ${nick}`);
  send(`USER ${user} 0 * :admiral test client`);
  const until = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const tick = (): void => {
        const v = check();
        if (v !== undefined) {
          listeners.delete(tick);
          clearTimeout(timer);
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(tick);
        reject(
          new Error(
            `${what} within ${timeoutMs} ms; heard:\n${heard.map((h) => `<${h.from}> ${h.text}`).join('\n')}`,
          ),
        );
      }, timeoutMs);
      listeners.add(tick);
      tick();
    });
  await until(() => (present.has(nick.toLowerCase()) ? true : undefined), 10_000, `${nick} joined`);
  await inChannel;
  const client: IrcTestClient = {
    nick,
    heard,
    raw,
    say: (target, text) => send(`PRIVMSG ${target} :${text}`),
    send,
    waitFor: (from, pattern, o = {}) =>
      until(
        () =>
          heard
            .slice(o.since ?? 0)
            .find((h) => h.from.toLowerCase() === from.toLowerCase() && pattern.test(h.text)),
        o.timeoutMs ?? 20_000,
        `no line from ${from} matching ${pattern}`,
      ),
    waitForJoin: async (who, timeoutMs = 20_000) => {
      // Who is in the channel: a JOIN seen, or NAMES asked twice a second while waiting.
      present.delete(who.toLowerCase());
      send(`NAMES ${channel}`);
      const ask = setInterval(() => send(`NAMES ${channel}`), 500);
      try {
        await until(
          () => (present.has(who.toLowerCase()) ? true : undefined),
          timeoutMs,
          `${who} in ${channel}`,
        );
      } finally {
        clearInterval(ask);
      }
    },
    close: async () => {
      if (sock.destroyed) return;
      send('QUIT :bye');
      await new Promise<void>((r) => {
        sock.once('close', () => r());
        setTimeout(() => {
          sock.destroy();
          r();
        }, 1000);
      });
    },
  };
  t.after(() => client.close());
  return client;
}
