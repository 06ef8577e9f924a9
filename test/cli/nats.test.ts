import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { runCli } from '../helpers/fleet.js';

// `admiral nats init` and the operator-mode flags, as a user meets them: the operator is made
// once with its secrets private, and bad values are refused with a message naming them.

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-nats-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('nats init writes the operator once, seeds private, and refuses to make a second', async (t) => {
  const dir = await tempDir(t);
  const data = join(dir, 'data');
  const first = await runCli(
    ['nats', 'init', '--data-dir', data, '--resolver-dir', '/srv/jwt'],
    dir,
  );
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /--enrol-jwt [\w-]+\.[\w-]+\.[\w-]+/);
  assert.match(first.stdout, /--creds \S+central\.creds --nats-operator /);
  for (const f of [
    'operator.seed',
    'account.seed',
    'account-signing.seed',
    'system.seed',
    'central.creds',
    'system-user.creds',
  ]) {
    assert.equal(statSync(join(data, 'nats', f)).mode & 0o077, 0, `${f} is readable by others`);
  }
  const conf = readFileSync(join(data, 'nats', 'nats-server.conf'), 'utf8');
  assert.match(conf, /^operator: "eyJ/m);
  assert.match(conf, /type: full/);
  assert.match(conf, /dir: "\/srv\/jwt"/);
  const operatorSeed = readFileSync(join(data, 'nats', 'operator.seed'), 'utf8');

  const again = await runCli(['nats', 'init', '--data-dir', data], dir);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already holds an operator/);
  assert.equal(readFileSync(join(data, 'nats', 'operator.seed'), 'utf8'), operatorSeed);
});

test('node start refuses an enrolment JWT that is not a JWT and an operator folder that holds none', async (t) => {
  const dir = await tempDir(t);
  const bad = await runCli(
    [
      'node',
      'start',
      '--name',
      'ship1',
      '--data-dir',
      join(dir, 'ship1'),
      '--enrol-jwt',
      'not a jwt',
    ],
    dir,
  );
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /join\.enrolJwt/);
  assert.match(bad.stderr, /a JWT \(three base64url parts\)/);

  const missing = await runCli(
    [
      'node',
      'start',
      '--central-role',
      '--name',
      'central',
      '--data-dir',
      join(dir, 'central'),
      '--nats-operator',
      join(dir, 'nowhere'),
    ],
    dir,
  );
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /nowhere\/operator\.seed.*admiral nats init/);
});
