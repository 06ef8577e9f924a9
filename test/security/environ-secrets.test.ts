import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { join } from 'node:path';
import { Broker } from '../../src/broker/index.js';
import { secretEnvNames, withoutSecretEnv } from '../../src/config/secret-env.js';
import { CLI, startFleet } from '../helpers/fleet.js';
import { tempDir } from '../methods/context.js';

// Any process of the same uid can read another's initial environment (/proc/PID/environ). A node
// given its broker credentials in ADMIRAL_* variables must not leave them there, nor in the
// environment of the spawner helper that starts commands, so a command cannot read them back from
// any of its ancestors.

const SECRET = 'envSecret7f3a9c1e5b';

// Prints the environment of the shell's every ancestor (and of PID, the node), NUL bytes as
// newlines, each block headed by its pid.
const WALK = [
  'p=$PPID',
  'while [ "$p" -gt 1 ]; do echo "== $p"; tr "\\0" "\\n" < /proc/$p/environ; p=$(cut -d" " -f4 /proc/$p/stat); done',
  'echo "== node $NODE_PID"; tr "\\0" "\\n" < /proc/$NODE_PID/environ',
].join('; ');

describe('secrets in the environment', () => {
  test("a command cannot read the node's broker token from /proc/PID/environ of the node or any ancestor", async (t) => {
    const fleet = await startFleet(t, { nodes: [] });
    const ship = await fleet.startNode('ship1', [], { ADMIRAL_BROKER__TOKEN: SECRET });
    const pid = ship.child.pid!;
    const sent = await fleet.send('central', [
      {
        toNode: 'ship1',
        method: 'REQCliCommand',
        methodArgs: ['sh', '-c', WALK.replaceAll('$NODE_PID', String(pid))],
        methodTimeout: 10,
        replyMethod: 'REQNone',
      },
    ]);
    const id = sent.accepted[0]!;
    const rec = await fleet.waitFor('central', id, ['completed', 'failed']);
    assert.equal(rec.state, 'completed', JSON.stringify(rec.error));
    const output = (rec.result as { output: string }).output;
    const blocks = output.split('\n== ').length;
    assert.ok(
      blocks >= 3,
      `the environments of the helper, the node and above were read:\n${output}`,
    );
    assert.match(output, new RegExp(`== node ${pid}\\n[\\s\\S]*PATH=`), "the node's own environ");
    assert.ok(!output.includes(SECRET), `the secret is in an environ:\n${output}`);
  });

  test('a broker token given only in the environment still authenticates the node', async (t) => {
    const broker = await Broker.start({
      host: '127.0.0.1',
      port: 0,
      authorization: { token: SECRET },
    });
    t.after(() => broker.close());
    const dir = await tempDir(t, 'admiral-environ-');
    const child = spawn(
      process.execPath,
      [CLI, 'node', 'start', '--name', 'x', '--data-dir', join(dir, 'x'), '--broker', broker.url],
      {
        cwd: dir,
        env: { ...process.env, ADMIRAL_BROKER__TOKEN: SECRET },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    t.after(() => {
      child.kill('SIGKILL');
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 15_000;
    while (!/node x is up/.test(output) && child.exitCode === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(output, /node x is up/, output);
    assert.ok(!output.includes(SECRET), 'the token is never printed');
  });

  test('a variable whose value is a URL with credentials counts as a secret, as do secret keys', () => {
    const env = {
      ADMIRAL_BROKER_URL: 'nats://ops:pw@10.0.0.1:4222',
      ADMIRAL_BROKER__TOKEN: 't',
      ADMIRAL_LOG_LEVEL: 'info',
      ADMIRAL_BROKER__NKEY_SEED_FILE: '/seed',
      HOME: '/root',
    };
    assert.deepEqual(secretEnvNames(env).sort(), ['ADMIRAL_BROKER_URL', 'ADMIRAL_BROKER__TOKEN']);
    assert.deepEqual(Object.keys(withoutSecretEnv(env)).sort(), [
      'ADMIRAL_BROKER__NKEY_SEED_FILE',
      'ADMIRAL_LOG_LEVEL',
      'HOME',
    ]);
  });
});
