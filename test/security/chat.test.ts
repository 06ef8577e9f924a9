import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { ChatBridge } from '../../src/chat/bridge.js';
import { IrcConnection } from '../../src/chat/irc-connection.js';
import type { AdmiralClient } from '../../src/client/connect.js';
import { configSchema } from '../../src/config/schema.js';
import { generateIdentity, Subjects } from '../../src/protocol/index.js';
import { ircTestClient, startIrcServer } from '../helpers/irc-server.js';

// The chat bridge's edges: what a node prints goes into the channel, and anyone in the channel
// can talk to the bridge.

test("a node's output cannot add a line or an IRC command to what the bridge says", async (t) => {
  const irc = await startIrcServer(t);
  if (irc === undefined) return;
  const watcher = await ircTestClient(t, irc, 'watcher');
  const conn = new IrcConnection({
    host: irc.host,
    port: irc.port,
    tls: false,
    nick: 'admiral',
    channel: '#ops',
    rateLimit: { burst: 10, perSecond: 10, maxQueued: 50 },
  });
  t.after(() => conn.close());
  conn.start();
  await watcher.waitForJoin('admiral');
  await joined(conn);
  const since = watcher.heard.length;
  conn.say('ship1: up\r\nPRIVMSG #ops :forged line\r\nQUIT :gone\nNOTICE watcher :hi\u0000x');
  conn.say('after');
  await watcher.waitFor('admiral', /^after$/, { since });
  const said = watcher.heard.slice(since).filter((h) => h.from === 'admiral');
  assert.deepEqual(
    said.map((h) => h.text),
    ['ship1: up  PRIVMSG #ops :forged line  QUIT :gone NOTICE watcher :hi x', 'after'],
  );
  assert.equal(conn.joined, true, 'the bridge did not quit');
});

test('a line longer than an IRC message is cut, not split into more lines', async (t) => {
  const irc = await startIrcServer(t);
  if (irc === undefined) return;
  const watcher = await ircTestClient(t, irc, 'watcher');
  const conn = new IrcConnection({
    host: irc.host,
    port: irc.port,
    tls: false,
    nick: 'admiral',
    channel: '#ops',
  });
  t.after(() => conn.close());
  conn.start();
  await watcher.waitForJoin('admiral');
  await joined(conn);
  const since = watcher.heard.length;
  conn.say(`ship1: ${'é'.repeat(2000)}`);
  conn.say('after');
  await watcher.waitFor('admiral', /^after$/, { since });
  const said = watcher.heard.slice(since).filter((h) => h.from === 'admiral');
  assert.equal(said.length, 2);
  assert.ok(Buffer.byteLength(said[0]!.text) <= 380, `${Buffer.byteLength(said[0]!.text)} bytes`);
  assert.ok(said[0]!.text.endsWith('é…'));
});

/** Until the connection saw its own JOIN (lines for the channel before that are not sent). */
async function joined(conn: IrcConnection): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!conn.joined) {
    if (Date.now() > deadline) throw new Error('the bridge did not join within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A minimal IRC server that registers one client and records when each PRIVMSG arrives. */
async function recordingServer(t: test.TestContext) {
  const got: { at: number; line: string }[] = [];
  let client: Socket | undefined;
  const server = createServer((sock) => {
    client = sock;
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (line.startsWith('USER ')) sock.write(':srv 001 admiral :welcome\r\n');
        else if (line.startsWith('CAP LS')) sock.write(':srv CAP * LS :\r\n');
        else if (line.startsWith('JOIN ')) sock.write(':admiral!a@h JOIN #ops\r\n');
        else if (line.startsWith('PING ')) sock.write(`:srv PONG ${line.slice(5)}\r\n`);
        else if (line.startsWith('PRIVMSG ')) got.push({ at: performance.now(), line });
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.after(
    () =>
      new Promise<void>((r) => {
        client?.destroy();
        server.close(() => r());
      }),
  );
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    port,
    got,
    send: (line: string) => client?.write(`${line}\r\n`),
    connected: () => client !== undefined,
  };
}

test('a flood of commands never makes the bridge send faster than flood control allows', async (t) => {
  const srv = await recordingServer(t);
  const config = configSchema().parse({
    chat: {
      irc: {
        server: `127.0.0.1:${srv.port}`,
        flood: { burst: 3, perSecond: 5, maxQueued: 20 },
      },
    },
  }).chat.irc;
  const logged: string[] = [];
  // `help` needs no fleet: a client that is never used.
  const bridge = ChatBridge.start({
    config,
    client: {} as AdmiralClient,
    log: (_level, msg) => logged.push(msg),
  });
  t.after(() => bridge.close());
  await joined(bridge.irc);
  // 40 commands at once, each answered with 6 lines of help.
  const flood = Array.from({ length: 40 }, () => ':mallory!m@h PRIVMSG #ops :admiral: help');
  srv.send(flood.join('\r\n'));
  await new Promise((r) => setTimeout(r, 2500));
  const times = srv.got.map((g) => g.at);
  assert.ok(times.length >= 3, `${times.length} lines`);
  // Token bucket: in any span of d ms at most burst + d/1000 * perSecond lines (+1 for rounding).
  for (let i = 0; i < times.length; i++) {
    for (let j = i; j < times.length; j++) {
      const allowed = 3 + ((times[j]! - times[i]!) / 1000) * 5 + 1;
      assert.ok(j - i + 1 <= allowed, `${j - i + 1} lines in ${times[j]! - times[i]!} ms`);
    }
  }
  // What is over the queue's 20 lines is dropped, not kept for ever.
  assert.ok(bridge.irc.dropped >= 20, `${bridge.irc.dropped} lines dropped`);
  assert.ok(logged.includes('chat: flood control dropped lines (send queue full)'));
});

test('an account entry admits the account the server vouches for, not a nick that looks like it', async (t) => {
  const srv = await recordingServer(t);
  const config = configSchema().parse({
    chat: {
      irc: {
        server: `127.0.0.1:${srv.port}`,
        allowRead: ['account:bob'],
        flood: { burst: 20, perSecond: 20 },
      },
    },
  }).chat.irc;
  // Central's job service as far as `jobs` needs it: an empty list.
  const asked: string[] = [];
  const client = {
    nc: {
      info: undefined,
      request: async (subject: string) => {
        asked.push(subject);
        return { data: Buffer.from(JSON.stringify({ ok: true, result: [] })) };
      },
    },
    subjects: new Subjects('adm'),
    identity: generateIdentity(),
  } as unknown as AdmiralClient;
  const bridge = ChatBridge.start({ config, client, log: () => undefined });
  t.after(() => bridge.close());
  await joined(bridge.irc);
  srv.send(':bob!b@h PRIVMSG #ops :admiral: jobs');
  srv.send('@account=mallory :bob!b@h PRIVMSG #ops :admiral: jobs');
  srv.send('@account=bob :robert!r@elsewhere PRIVMSG #ops :admiral: jobs');
  const deadline = Date.now() + 5000;
  while (srv.got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(
    srv.got.map((g) => g.line),
    [
      'PRIVMSG #ops :bob: refused: bob!b@h may not use read-only commands here',
      'PRIVMSG #ops :bob: refused: bob!b@h (account mallory) may not use read-only commands here',
      'PRIVMSG #ops :no jobs',
    ],
  );
  assert.equal(asked.length, 1, 'central was asked once, for the vouched-for account');
});
