import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { runCli } from '../helpers/fleet.js';
import { closedTcpPort } from '../helpers/ports.js';

// What a newcomer reads when something is not there or in the way: the error, then what to do.

async function emptyDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-cli-errors-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('a client command with no admiral running says which address it tried and that admiral up starts one', async (t) => {
  const dir = await emptyDir(t);
  const port = await closedTcpPort();
  const r = await runCli(['--broker', `127.0.0.1:${port}`, '--central-wait', '0s', 'nodes'], dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`connection refused: nats://127\\.0\\.0\\.1:${port}`));
  assert.match(r.stderr, /`admiral up` starts admiral in this folder/);
});

test('an unknown option prints the error and one line pointing to the help, not the whole help page', async (t) => {
  const dir = await emptyDir(t);
  const r = await runCli(['run', '--bogus', '--', 'true'], dir);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /unknown option '--bogus'/);
  assert.match(r.stderr, /add --help to the command/);
  assert.doesNotMatch(r.stderr, /Options:/);
});

test('admiral up on a port already taken says something listens there and how to pick another', async (t) => {
  const dir = await emptyDir(t);
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
  const port = (taken.address() as { port: number }).port;
  const r = await runCli(
    ['up', '--broker-port', String(port), '--http-listen', '127.0.0.1:0'],
    dir,
  );
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /EADDRINUSE/);
  assert.match(r.stderr, /already listening on 127\.0\.0\.1:\d+: most likely an admiral/);
  assert.match(r.stderr, /--broker-port PORT/);
});
