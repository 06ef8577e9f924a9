import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startFleet } from '../helpers/fleet.js';

test('a filter that matches nothing says how many nodes were considered and suggests the fact meant, in run, ping and nodes', async (t) => {
  const fleet = await startFleet(t, { nodes: ['web1'] });
  const deadline = Date.now() + 20_000;
  while (!(await fleet.cli(['nodes', '--online'])).stdout.includes('web1')) {
    assert.ok(Date.now() < deadline, 'web1 never came online');
    await new Promise((r) => setTimeout(r, 200));
  }
  const explained = /2 nodes considered[\s\S]*no node has a fact name \(did you mean node\?\)/;

  const run = await fleet.cli(['run', 'name=web*', '--', 'true']);
  assert.equal(run.code, 5, run.stderr);
  assert.match(run.stderr, explained);

  const ping = await fleet.cli(['ping', 'name=web*', '--timeout', '1']);
  assert.equal(ping.code, 5, ping.stdout + ping.stderr);
  assert.match(ping.stderr, explained);

  const nodes = await fleet.cli(['nodes', 'name=web*']);
  assert.match(nodes.stderr, explained);

  const removed = await fleet.cli(['nodes', '--where', 'node=web*', '--where', 'os=plan9']);
  assert.match(removed.stderr, /the filter os=plan9 removed the last 1/);

  const typo = await fleet.cli(['run', 'wbe1', '--online', '--', 'true']);
  assert.equal(typo.code, 5, typo.stderr);
  assert.match(typo.stderr, /no node is named wbe1 \(did you mean web1\?\)/);

  const online = await fleet.cli(['ping', '--online', '--format', 'json']);
  assert.equal(online.code, 0, online.stderr);
  assert.deepEqual(
    (JSON.parse(online.stdout) as { replies: { node: string }[] }).replies
      .map((r) => r.node)
      .sort(),
    ['central', 'web1'],
  );
});

test('--cols refuses a column the command does not have and lists the ones it has', async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  for (const args of [
    ['nodes', '--cols', 'node,bogus'],
    ['ping', '--cols', 'node,bogus', '--timeout', '1'],
    ['run', '--all', '--cols', 'node,bogus', '--', 'true'],
    ['messages', '--cols', 'id,bogus'],
  ]) {
    const r = await fleet.cli(args);
    assert.notEqual(r.code, 0, `${args.join(' ')}: ${r.stdout}`);
    assert.match(
      r.stderr,
      /--cols: .* has no column "bogus"; its columns: .*node|id/,
      args.join(' '),
    );
  }
  const ok = await fleet.cli(['nodes', '--cols', 'node,hostname,lastEvent']);
  assert.equal(ok.code, 0, ok.stderr);
});
