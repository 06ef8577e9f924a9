import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { Broker } from '../../src/broker/index.js';
import { connectionOptions } from '../../src/node/broker-connection.js';
import { CLI } from '../helpers/fleet.js';
import { tempDir } from '../methods/context.js';

// Credentials in a broker URL (nats://user:pass@host, nats://token@host) are used to
// authenticate, are taken out of the URL before the NATS client sees it, and are never printed.

const PASSWORD = 'urlPw9d2e41';

/** Starts `admiral node start --broker url`; resolves with its output once it is up or gone. */
async function nodeStart(t: TestContext, url: string, ms = 10_000): Promise<string> {
  const dir = await tempDir(t, 'admiral-url-creds-');
  const child = spawn(
    process.execPath,
    [CLI, 'node', 'start', '--name', 'x', '--data-dir', join(dir, 'x'), '--broker', url],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => {
    child.kill('SIGKILL');
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + ms;
  while (!/node x is up/.test(output) && child.exitCode === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  return output;
}

describe('credentials in a broker URL', () => {
  test('a user and password in --broker authenticate the node, and the password is never printed', async (t) => {
    const broker = await Broker.start({
      host: '127.0.0.1',
      port: 0,
      authorization: { user: 'ops', password: PASSWORD },
    });
    t.after(() => broker.close());
    const out = await nodeStart(t, broker.url.replace('nats://', `nats://ops:${PASSWORD}@`));
    assert.match(out, /node x is up/, out);
    assert.ok(!out.includes(PASSWORD), out);
  });

  test('a token in --broker authenticates the node', async (t) => {
    const broker = await Broker.start({
      host: '127.0.0.1',
      port: 0,
      authorization: { token: PASSWORD },
    });
    t.after(() => broker.close());
    const out = await nodeStart(t, broker.url.replace('nats://', `nats://${PASSWORD}@`));
    assert.match(out, /node x is up/, out);
    assert.ok(!out.includes(PASSWORD), out);
  });

  test('the NATS client is given the servers without credentials, and the credentials apart', () => {
    const o = connectionOptions(
      { url: `nats://ops:p%40ss@10.0.0.1:4222, nats://ops:p%40ss@10.0.0.2:4222` },
      { name: 'x' },
    );
    assert.deepEqual(o.servers, ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222']);
    assert.equal(o.user, 'ops');
    assert.equal(o.pass, 'p@ss');
    const tok = connectionOptions({ url: 'tls://s3cret@h:4222' }, { name: 'x' });
    assert.deepEqual(tok.servers, ['tls://h:4222']);
    assert.equal(tok.token, 's3cret');
  });

  test('servers with different credentials, or URL credentials that contradict the configured ones, are refused naming the conflict', () => {
    assert.throws(
      () => connectionOptions({ url: 'nats://a:x@h1:4222,nats://b:y@h2:4222' }, { name: 'x' }),
      (err: Error) =>
        /different credentials/.test(err.message) &&
        !err.message.includes(':x@') &&
        !err.message.includes(':y@'),
    );
    assert.throws(
      () =>
        connectionOptions({ url: 'nats://a:x@h1:4222', user: 'b', password: 'z' }, { name: 'x' }),
      (err: Error) => /broker\.user/.test(err.message) && !/\bx\b|\bz\b/.test(err.message),
    );
  });
});
