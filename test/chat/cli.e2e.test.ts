import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, startFleet } from '../helpers/fleet.js';
import { launchNatsServer, requireNatsServer } from '../helpers/nats-server.js';
import { closedTcpPort } from '../helpers/ports.js';
import { ircTestClient, startIrcServer } from '../helpers/irc-server.js';
import { spawnCliProcess } from './spawn.js';

test('admiral chat irc without a server or with a bad mask says what is wrong, before connecting', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-chat-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // No broker runs here: the error must come from the settings, not from a failed connection.
  const none = await runCli(['chat', 'irc', '--data-dir', join(dir, 'd')], dir);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /Expected chat\.irc\.server \(--server host:port\), got none/);
  const bad = await runCli(
    [
      'chat',
      'irc',
      '--server',
      '127.0.0.1:6667',
      '--allow',
      'alice@host',
      '--data-dir',
      join(dir, 'd'),
    ],
    dir,
  );
  assert.equal(bad.code, 1);
  assert.match(
    bad.stderr,
    /chat\.irc allowlist: Expected a mask like nick!user@host .*got "alice@host"/,
  );
  const port = await runCli(
    ['chat', 'irc', '--server', '127.0.0.1:0', '--data-dir', join(dir, 'd')],
    dir,
  );
  assert.equal(port.code, 1);
  assert.match(port.stderr, /port from 1 to 65535, got "127\.0\.0\.1:0"/);
});

test('the bridge on its own answers again after the NATS broker restarts', async (t) => {
  const bin = requireNatsServer(t);
  if (bin === undefined) return;
  const irc = await startIrcServer(t);
  if (irc === undefined) return;
  const natsPort = await closedTcpPort();
  let nats = await launchNatsServer(bin, { args: ['-p', String(natsPort)] });
  t.after(() => nats.stop());
  const fleet = await startFleet(t, { brokerUrl: nats.url, nodes: ['ship1'] });
  const key = (await fleet.cli(['chat', 'key'])).stdout.trim();
  assert.equal((await fleet.cli(['trust', 'add', key])).code, 0);
  const bridge = await spawnCliProcess(
    t,
    'bridge',
    ['chat', 'irc', '--server', irc.address, '--allow', 'alice!*@*', '--broker', nats.url],
    fleet.dir,
    /admiral chat bridge is up/,
    { ADMIRAL_CHAT__IRC__FLOOD__BURST: '10', ADMIRAL_CHAT__IRC__FLOOD__PER_SECOND: '4' },
  );
  const alice = await ircTestClient(t, irc, 'alice');
  await alice.waitForJoin('admiral');
  alice.say('#ops', 'admiral: ping');
  assert.match((await alice.waitFor('admiral', /^ping: /)).text, /^ping: 2\/2 answered/);
  await nats.stop();
  nats = await launchNatsServer(bin, { args: ['-p', String(natsPort)] });
  // Nodes and the bridge reconnect by themselves; give them a few seconds.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const since = alice.heard.length;
    alice.say('#ops', 'admiral: ping');
    const line = await alice.waitFor('admiral', /^(ping: |alice: ping failed)/, { since });
    if (/^ping: 2\/2 answered/.test(line.text)) break;
    if (Date.now() > deadline) assert.fail(`still ${line.text}; bridge:\n${bridge.output()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
});
