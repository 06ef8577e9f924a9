import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IrcConnection, type IrcEvent } from '../../src/chat/irc-connection.js';
import { ircTestClient, startIrcServer } from '../helpers/irc-server.js';

test('a bridge started before its IRC server keeps trying, then joins once the server is up', async (t) => {
  const irc = await startIrcServer(t);
  if (irc === undefined) return;
  await irc.stop();
  const events: IrcEvent[] = [];
  const conn = new IrcConnection({
    host: irc.host,
    port: irc.port,
    tls: false,
    nick: 'admiral',
    channel: '#ops',
    reconnectMinMs: 100,
    reconnectMaxMs: 400,
    onEvent: (e) => events.push(e),
  });
  t.after(() => conn.close());
  conn.start();
  await new Promise((r) => setTimeout(r, 1200));
  const tries = events.filter((e) => e.type === 'connecting').length;
  assert.ok(tries >= 3, `${tries} attempts while the server was down`);
  const waits = events.flatMap((e) => (e.type === 'disconnected' ? [e.retryInMs] : []));
  assert.deepEqual(waits.slice(0, 3), [100, 200, 400], 'backoff doubles up to the maximum');
  assert.ok(waits.every((w) => w <= 400));
  await irc.start();
  const watcher = await ircTestClient(t, irc, 'watcher');
  await watcher.waitForJoin('admiral');
});

test('a bridge kicked from its channel joins it again', async (t) => {
  const irc = await startIrcServer(t);
  if (irc === undefined) return;
  // #kick is not predefined: its first member, the watcher, is its operator.
  const watcher = await ircTestClient(t, irc, 'watcher', '#kick');
  const joins: string[] = [];
  const conn = new IrcConnection({
    host: irc.host,
    port: irc.port,
    tls: false,
    nick: 'admiral',
    channel: '#kick',
    onEvent: (e) => {
      if (e.type === 'joined') joins.push(e.channel);
    },
  });
  t.after(() => conn.close());
  conn.start();
  await watcher.waitForJoin('admiral');
  watcher.raw.length = 0;
  const deadline = Date.now() + 10_000;
  while (joins.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  watcher.send('KICK #kick admiral :out');
  while (joins.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(joins, ['#kick', '#kick'], 'joined, kicked, joined again');
  assert.ok(
    watcher.raw.some((l) => / KICK #kick admiral /.test(l)),
    'the kick happened',
  );
  assert.equal(conn.joined, true);
});
