import assert from 'node:assert/strict';
import { mkdir, mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli, startFleet } from '../helpers/fleet.js';
import { ircTestClient, startIrcServer } from '../helpers/irc-server.js';

// The chat bridge inside `admiral up`, configured in central's config.yaml.

test('admiral up runs the chat bridge when chat.irc.server is configured', async (t) => {
  const irc = await startIrcServer(t);
  if (irc === undefined) return;
  const dir = await mkdtemp(join(tmpdir(), 'admiral-chat-up-'));
  await mkdir(join(dir, 'admiral-data'));
  await writeFile(
    join(dir, 'admiral-data', 'config.yaml'),
    [
      'chat:',
      '  irc:',
      `    server: ${irc.address}`,
      '    channel: "#ops"',
      '    allow: ["alice!*@*"]',
      '    ackWait: 2',
      '    flood: { burst: 10, perSecond: 4 }',
      '',
    ].join('\n'),
  );
  const fleet = await startFleet(t, { dir, nodes: ['ship1'] });
  const m = /chat:\s+irc:\/\/\S+ #ops as admiral; its key (U[A-Z2-7]{55})/.exec(
    fleet.central.output(),
  );
  assert.ok(m, fleet.central.output());
  const key = m[1]!;
  const chatKey = await fleet.cli(['chat', 'key']);
  assert.equal(chatKey.stdout.trim(), key, '`admiral chat key` prints the same key');
  const seed = await stat(join(dir, 'admiral-data', 'chat-irc.seed'));
  assert.equal(seed.mode & 0o777, 0o600, 'the seed is readable by its owner only');
  assert.equal((await fleet.cli(['trust', 'add', key, '--label', 'chat-irc'])).code, 0);
  const alice = await ircTestClient(t, irc, 'alice');
  await alice.waitForJoin('admiral');
  alice.say('#ops', 'admiral: fleet echo up and running');
  await alice.waitFor('admiral', /on 2 nodes; waiting 2 s for acks$/);
  await alice.waitFor('admiral', /^got 2\/2 positive acknowledgements$/);
  const summary = await alice.waitFor('admiral', /^job \S+ completed/);
  assert.match(summary.text, /2 succeeded of 2/);
  const said = alice.heard.map((h) => h.text);
  assert.ok(said.includes('central: up and running'), said.join(' | '));
  assert.ok(said.includes('ship1: up and running'), said.join(' | '));
});

test('admiral up refuses an allowlist entry it cannot read, naming it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-chat-up-'));
  const r = await runCli(
    ['up', '--broker-port', '0', '--http-listen', '127.0.0.1:0', '--data-dir', join(dir, 'd')],
    dir,
    {
      ADMIRAL_CHAT__IRC__SERVER: '127.0.0.1:1',
      ADMIRAL_CHAT__IRC__ALLOW: 'alice',
      ADMIRAL_CENTRAL__DISCOVERY__PORT: '0',
    },
  );
  t.after(() =>
    import('node:fs/promises').then((fs) => fs.rm(dir, { recursive: true, force: true })),
  );
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /chat\.irc allowlist: Expected a mask like nick!user@host .* or account:NAME, got "alice"/,
  );
});
