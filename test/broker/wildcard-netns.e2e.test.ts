import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { test } from 'node:test';
import { CLI } from '../helpers/fleet.js';

// `host: 0.0.0.0` (every interface) is listened on as nats-server does: Go opens it as a
// dual-stack socket, so a client that resolves `localhost` to ::1 first reaches the server too
// (nats.js's tls tests connect so). The broker runs in a network namespace of its own, whose only
// interface is its loopback: listening on every interface there reaches nothing else. Needs root
// and `ip netns`: skipped with the reason without them, failed under ADMIRAL_REQUIRE_NETNS=1 (CI).

function ip(args: readonly string[]): string {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

test('a broker on 0.0.0.0 answers on ::1 as well as 127.0.0.1', async (t) => {
  const ns = `admiral-wild-${process.pid}`;
  try {
    ip(['netns', 'add', ns]);
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
    const why = `ip netns is unavailable (${stderr || (err as Error).message}); this test needs root and iproute2`;
    if (process.env.ADMIRAL_REQUIRE_NETNS === '1') assert.fail(why);
    t.skip(why);
    return;
  }
  t.after(() => ip(['netns', 'del', ns]));
  ip(['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  const broker = spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      process.execPath,
      CLI,
      'broker',
      'start',
      '--host',
      '0.0.0.0',
      '--port',
      '0',
      '--insecure',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => {
    broker.kill('SIGKILL');
  });
  const port = await new Promise<string>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`broker did not start:\n${seen}`)), 10_000);
    const onData = (d: Buffer): void => {
      seen += d.toString();
      const m = /broker listening on nats:\/\/\S+:(\d+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    };
    broker.stdout.on('data', onData);
    broker.stderr.on('data', onData);
  });
  // A raw client in the same namespace: the server's INFO line is the answer.
  for (const host of ['127.0.0.1', '::1']) {
    const info = ip([
      'netns',
      'exec',
      ns,
      process.execPath,
      '-e',
      `const s = require('node:net').connect(${port}, '${host}');
       s.once('data', (d) => { process.stdout.write(d.toString().split('\\r\\n')[0]); s.destroy(); });
       s.once('error', (e) => { process.stdout.write('error ' + e.code); });`,
    ]);
    assert.match(info, /^INFO \{/, `on ${host}: ${info}`);
  }
});
