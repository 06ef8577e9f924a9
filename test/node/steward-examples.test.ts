import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startFleet } from '../helpers/fleet.js';

// Steward's documented messages, sent unchanged into central's socket, produce the files they name
// (issue: node daemon and durable messaging, "Done when").

test("Steward's REQCliCommand example to ship1 appends its result under the data dir", async (t) => {
  const fleet = await startFleet(t, { nodes: ['ship1'] });
  const message =
    '[{"directory":"/var/cli/command_result/","fileName":"some-file-name.result","toNode":"ship1","method":"REQCliCommand","methodArgs":["bash","-c","sleep 5 & echo listing; ls ./"],"replyMethod":"REQToFileAppend","ACKTimeout":5,"retries":3,"replyACKTimeout":5,"replyRetries":3,"methodTimeout":10}]';
  const result = await fleet.send('central', message);
  assert.equal(result.rejected.length, 0, JSON.stringify(result.rejected));
  const [id] = result.accepted;
  assert.ok(id);
  const rec = await fleet.waitFor('central', id, ['completed', 'failed', 'rejected', 'expired']);
  assert.equal(rec.state, 'completed', JSON.stringify(rec));
  const file = join(fleet.central.dataDir, 'var/cli/command_result/some-file-name.result');
  const text = await readFile(file, 'utf8');
  assert.match(text, /listing/);
  assert.match(text, /admiral\.db/, 'ls ran in ship1 data dir');
});

test("Steward's two-message array reaches ship1 and ship2 and both results land in one file each", async (t) => {
  const fleet = await startFleet(t, { nodes: ['ship1', 'ship2'] });
  const messages = ['ship1', 'ship2'].map((node) => ({
    directory: 'cli-command-executed-result',
    fileName: 'some.log',
    toNode: node,
    method: 'REQCliCommand',
    methodArgs: ['bash', '-c', `sleep 3 & echo hello from $(basename "$PWD")`],
    replyMethod: 'REQToFileAppend',
    ACKTimeout: 5,
    retries: 3,
    methodTimeout: 10,
  }));
  const result = await fleet.send('central', messages);
  assert.equal(result.accepted.length, 2, JSON.stringify(result.rejected));
  for (const id of result.accepted) {
    const rec = await fleet.waitFor('central', id, ['completed', 'failed', 'rejected', 'expired']);
    assert.equal(rec.state, 'completed', JSON.stringify(rec));
  }
  const text = await readFile(
    join(fleet.central.dataDir, 'cli-command-executed-result/some.log'),
    'utf8',
  );
  assert.match(text, /hello from ship1/);
  assert.match(text, /hello from ship2/);
});

test('a Steward message file piped with `nc -U` into the socket is accepted, as in Steward', async (t) => {
  // netcat-openbsd, as Steward's docs use it; CI installs it.
  const nc = ['/usr/bin/nc', '/bin/nc'].find((p) => existsSync(p));
  if (nc === undefined) {
    if (process.env.ADMIRAL_REQUIRE_NATS_SERVER === '1')
      throw new Error('nc missing: apt-get install -y netcat-openbsd');
    t.skip('nc missing: apt-get install -y netcat-openbsd');
    return;
  }
  const fleet = await startFleet(t, { nodes: ['ship1'] });
  const file = join(fleet.dir, 'msg.json');
  await writeFile(
    file,
    '[{"directory":"/var/cli/command_result/","fileName":"nc.result","toNode":"ship1","method":"REQCliCommand","methodArgs":["bash","-c","echo via nc"],"replyMethod":"REQToFileAppend","ACKTimeout":5,"retries":3,"replyACKTimeout":5,"replyRetries":3,"methodTimeout":10}]',
  );
  const answer = execFileSync(nc, ['-U', join(fleet.central.dataDir, 'admiral.sock')], {
    input: await readFile(file),
    timeout: 10_000,
    encoding: 'utf8',
  });
  const result = JSON.parse(answer) as { accepted: string[]; rejected: unknown[] };
  assert.equal(result.rejected.length, 0, answer);
  const [id] = result.accepted;
  assert.ok(id, answer);
  const rec = await fleet.waitFor('central', id, ['completed', 'failed', 'rejected', 'expired']);
  assert.equal(rec.state, 'completed', JSON.stringify(rec));
  const text = await readFile(
    join(fleet.central.dataDir, 'var/cli/command_result/nc.result'),
    'utf8',
  );
  assert.match(text, /via nc/);
});
