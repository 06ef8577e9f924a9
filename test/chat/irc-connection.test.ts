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
