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

const ID = /job ([0-9a-f-]{36}) /;

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

test('every chat command answers in the channel, a job in three steps', async (t) => {
  const s = await setup(t);
  if (s === undefined) return;
  const alice = await ircTestClient(t, s.irc, 'alice');
  await alice.waitForJoin('admiral');

  await t.test('help lists the commands', async () => {
    const since = alice.heard.length;
    alice.say('#ops', 'admiral: help');
    await alice.waitFor('admiral', /^cancel ID/, { since });
    const said = alice.heard.slice(since).map((h) => h.text);
    for (const c of ['ping', 'nodes', 'jobs', 'run', 'fleet', 'cancel']) {
      assert.ok(
        said.some((l) => l.startsWith(c)),
        `${c} in help: ${said.join(' | ')}`,
      );
    }
  });

  await t.test('nodes lists the inventory, online and offline', async () => {
    const since = alice.heard.length;
    alice.say('#ops', 'admiral: nodes');
    const head = await alice.waitFor('admiral', /^\d+ nodes, /, { since });
    assert.equal(head.text, '3 nodes, 3 online, 0 offline');
    const online = await alice.waitFor('admiral', /^online: /, { since });
    assert.equal(online.text, 'online: central, ship1, ship2');
  });

  await t.test('nodes takes a filter', async () => {
    const since = alice.heard.length;
    alice.say('#ops', 'admiral: nodes tags=web');
    const head = await alice.waitFor('admiral', /^\d+ nodes, /, { since });
    assert.equal(head.text, '1 nodes, 1 online, 0 offline');
    assert.equal((await alice.waitFor('admiral', /^online: /, { since })).text, 'online: ship1');
  });

  let jobId = '';
  await t.test(
    'run answers: waiting for acks, got X/Y positive acknowledgements, a line per node and a summary',
    async () => {
      const since = alice.heard.length;
      alice.say('#ops', "admiral: run --where 'tags=web' -- echo hello from chat");
      const first = await alice.waitFor('admiral', /waiting 3 s for acks$/, { since });
      const id = ID.exec(first.text)?.[1];
      assert.ok(id, first.text);
      jobId = id;
      assert.equal(
        first.text,
        `job ${id} for alice: echo hello from chat on 1 node; waiting 3 s for acks`,
      );
      const acks = await alice.waitFor('admiral', /positive acknowledgements$/, { since });
      assert.equal(acks.text, 'got 1/1 positive acknowledgements');
      const node = await alice.waitFor('admiral', /^ship1:/, { since });
      assert.equal(node.text, 'ship1: hello from chat');
      const summary = await alice.waitFor('admiral', new RegExp(`^job ${id} completed`), { since });
      assert.match(summary.text, /: 1 succeeded of 1 in [\d.]+ s; full output: admiral jobs show /);
      const order = [first, acks, node, summary].map((h) => alice.heard.indexOf(h));
      assert.deepEqual(
        order,
        [...order].sort((a, b) => a - b),
        'the steps in order',
      );
    },
  );

  await t.test("fleet CMD (amiral's form) runs on every node", async () => {
    const since = alice.heard.length;
    alice.say('#ops', 'admiral: fleet uptime');
    await alice.waitFor('admiral', /on 3 nodes; waiting 3 s for acks$/, { since });
    assert.equal(
      (await alice.waitFor('admiral', /positive acknowledgements$/, { since })).text,
      'got 3/3 positive acknowledgements',
    );
    const summary = await alice.waitFor('admiral', /^job \S+ completed/, { since });
    assert.match(summary.text, /: 3 succeeded of 3 /);
    const lines = alice.heard.slice(since).map((h) => h.text);
    for (const n of ['central', 'ship1', 'ship2']) {
      assert.ok(
        lines.some((l) => l.startsWith(`${n}: `) && /load average/.test(l)),
        `${n}: ${lines.join(' | ')}`,
      );
    }
  });

  await t.test('jobs lists the latest jobs', async () => {
    const since = alice.heard.length;
    alice.say('#ops', 'admiral: jobs');
    const line = await alice.waitFor('admiral', new RegExp(`^${jobId} completed`), { since });
    assert.match(
      line.text,
      /1\/1 ok, 0 failed: echo hello from chat \(\d+ s ago, irc:alice!~tester@127\.0\.0\.1\)$/,
    );
  });

  await t.test('job ID shows one job and its nodes', async () => {
    const since = alice.heard.length;
    alice.say('#ops', `admiral: job ${jobId}`);
    await alice.waitFor('admiral', new RegExp(`^${jobId} completed`), { since });
    assert.equal(
      (await alice.waitFor('admiral', /^ship1:/, { since })).text,
      'ship1: hello from chat',
    );
    await alice.waitFor('admiral', new RegExp(`^job ${jobId} completed`), { since });
  });

  await t.test('cancel ID cancels a running job, which then ends cancelled', async () => {
    const since = alice.heard.length;
    alice.say('#ops', 'admiral: run --nodes ship1 -- sleep 30');
    const first = await alice.waitFor('admiral', /waiting 3 s for acks$/, { since });
    const id = ID.exec(first.text)?.[1] ?? '';
    await alice.waitFor('admiral', /^got 1\/1 positive acknowledgements$/, { since });
    alice.say('#ops', `admiral: cancel ${id}`);
    await alice.waitFor('admiral', new RegExp(`^cancelling job ${id}`), { since });
    const summary = await alice.waitFor('admiral', new RegExp(`^job ${id} cancelled`), {
      since,
      timeoutMs: 20_000,
    });
    assert.match(summary.text, /0 succeeded, 1 failed of 1/);
  });

  await t.test('a line that is no command is answered with what was wrong', async () => {
    const since = alice.heard.length;
    alice.say('#ops', 'admiral: reboot everything');
    const r = await alice.waitFor('admiral', /^alice: /, { since });
    assert.equal(r.text, 'alice: unknown command "reboot"; try: help');
    alice.say('#ops', 'admiral: job not-an-id');
    const r2 = await alice.waitFor('admiral', /^alice: job takes/, { since });
    assert.equal(r2.text, 'alice: job takes one job id (a UUID), got "not-an-id"');
  });
});

test('a nick not on the allowlist is refused with a short reason, and nothing runs', async (t) => {
  const s = await setup(t);
  if (s === undefined) return;
  const mallory = await ircTestClient(t, s.irc, 'mallory', '#ops', 'mal');
  const bob = await ircTestClient(t, s.irc, 'bob');
  await mallory.waitForJoin('admiral');
  mallory.say('#ops', 'admiral: fleet touch /tmp/pwned-by-chat');
  const r = await mallory.waitFor('admiral', /^mallory: /);
  assert.equal(r.text, 'mallory: refused: mallory!~mal@127.0.0.1 may not use run commands here');
  mallory.say('#ops', 'admiral: nodes');
  await mallory.waitFor('admiral', /^mallory: refused: .* may not use read-only commands here$/);
  // bob may read, not run.
  bob.say('#ops', 'admiral: nodes');
  await bob.waitFor('admiral', /^3 nodes, 3 online/);
  bob.say('#ops', 'admiral: cancel 0190c1a2-0000-7000-8000-000000000000');
  await bob.waitFor(
    'admiral',
    /^bob: refused: bob!~tester@127.0.0.1 may not use run commands here$/,
  );
  // A private message runs nothing, whoever sends it: the answer points to the channel.
  mallory.say('admiral', 'run --all -- touch /tmp/pwned-by-chat');
  const pm = await mallory.waitFor('admiral', /^I answer in /);
  assert.equal(pm.target, 'mallory');
  assert.equal(pm.text, 'I answer in #ops: admiral: help');
  const jobs = await s.fleet.cli(['--format', 'json', 'jobs']);
  assert.deepEqual(JSON.parse(jobs.stdout), [], 'no job was made');
});

test('a bridge central does not trust says so, with the command that fixes it', async (t) => {
  const s = await setup(t, false);
  if (s === undefined) return;
  const alice = await ircTestClient(t, s.irc, 'alice');
  await alice.waitForJoin('admiral');
  alice.say('#ops', 'admiral: run --all -- true');
  const r = await alice.waitFor('admiral', /^alice: run failed: /);
  assert.ok(
    r.text.includes(`untrusted key ${s.key}; on the central, run: admiral trust add ${s.key}`),
    r.text,
  );
  const add = await s.fleet.cli(['trust', 'add', s.key, '--label', 'chat-irc']);
  assert.equal(add.code, 0, add.stderr);
  alice.say('#ops', 'admiral: run --all -- true');
  const done = await alice.waitFor('admiral', /^job \S+ completed/);
  assert.match(done.text, /3 succeeded of 3/);
  const id = ID.exec(done.text)?.[1] ?? '';
  const shown = await s.fleet.cli(['--format', 'json', 'jobs', 'show', id]);
  const job = JSON.parse(shown.stdout) as {
    submittedBy: string;
    options: { requestedBy?: string };
  };
  assert.equal(job.submittedBy, s.key, 'the job shows the bridge as its submitter');
  assert.equal(job.options.requestedBy, 'irc:alice!~tester@127.0.0.1', 'and who asked it');
});

test('after the IRC server restarts the bridge reconnects, rejoins and answers again', async (t) => {
  const s = await setup(t);
  if (s === undefined) return;
  const alice = await ircTestClient(t, s.irc, 'alice');
  await alice.waitForJoin('admiral');
  await s.irc.stop();
  await alice.close();
  await new Promise((r) => setTimeout(r, 500));
  await s.irc.start();
  const again = await ircTestClient(t, s.irc, 'alice');
  await again.waitForJoin('admiral', 30_000);
  again.say('#ops', 'admiral: ping');
  const line = await again.waitFor('admiral', /^ping: /);
  assert.match(line.text, /^ping: 3\/3 answered/);
  assert.match(s.bridge.output(), /chat: IRC connection lost; reconnecting/);
});
