import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { type Fleet, type NodeProcess, startFleet } from '../helpers/fleet.js';
import { type IrcServerHandle, ircTestClient, startIrcServer } from '../helpers/irc-server.js';
import { spawnCliProcess } from './spawn.js';

// The chat bridge end to end: Debian's ngircd, `admiral up` with two nodes, `admiral chat irc`
// as its own process, and test clients in the channel speaking to it as people would.

const FAST_FLOOD = {
  // ngircd takes a few lines a second from a client; tests should not wait a second a line.
  ADMIRAL_CHAT__IRC__FLOOD__BURST: '10',
  ADMIRAL_CHAT__IRC__FLOOD__PER_SECOND: '4',
  ADMIRAL_CHAT__IRC__RECONNECT_MIN: '0.2',
  ADMIRAL_CHAT__IRC__RECONNECT_MAX: '1',
};

interface Setup {
  irc: IrcServerHandle;
  fleet: Fleet;
  bridge: NodeProcess;
  key: string;
}

async function setup(t: TestContext, trust = true): Promise<Setup | undefined> {
  const irc = await startIrcServer(t);
  if (irc === undefined) return undefined;
  const fleet = await startFleet(t, { nodes: [] });
  await fleet.startNode('ship1', ['--tags', 'web']);
  await fleet.startNode('ship2', ['--tags', 'db']);
  const keyOut = await fleet.cli(['chat', 'key']);
  assert.equal(keyOut.code, 0, keyOut.stderr);
  const key = keyOut.stdout.trim();
  assert.match(key, /^U[A-Z2-7]{55}$/);
  if (trust) {
    const r = await fleet.cli(['trust', 'add', key, '--label', 'chat-irc']);
    assert.equal(r.code, 0, r.stderr);
  }
  const bridge = await spawnCliProcess(
    t,
    'bridge',
    [
      'chat',
      'irc',
      '--server',
      irc.address,
      '--nick',
      'admiral',
      '--channel',
      '#ops',
      '--allow',
      'alice!*@*',
      '--allow-read',
      'bob!*@127.0.0.1',
      '--ack-wait',
      '3',
      '--data-dir',
      join(fleet.dir, 'admiral-data'),
    ],
    fleet.dir,
    /admiral chat bridge is up/,
    FAST_FLOOD,
  );
  return { irc, fleet, bridge, key };
}

test('the bridge joins the channel and answers `admiral: ping` with who answered', async (t) => {
  const s = await setup(t);
  if (s === undefined) return;
  const alice = await ircTestClient(t, s.irc, 'alice');
  await alice.waitForJoin('admiral');
  alice.say('#ops', 'admiral: ping');
  const line = await alice.waitFor('admiral', /^ping: /);
  assert.match(line.text, /^ping: 3\/3 answered/);
  assert.match(s.bridge.output(), new RegExp(`its key:\\s+${s.key}`));
});
