import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Broker } from '../../src/broker/index.js';
import { generateIdentity, identityFromSeed } from '../../src/protocol/index.js';
import { runCli, startFleet } from '../helpers/fleet.js';
import { closedTcpPort, freeUdpPort } from '../helpers/ports.js';

// Replays every transcript of bpclient's documentation (seed 000) and the issue "Broker services"
// against a real `admiral up`, through the real CLI: stdout, stderr and exit code exactly.

const EXAMPLE = fileURLToPath(new URL('../../../examples/extensions/hello.mjs', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../../../test/central/fixtures/', import.meta.url));

interface Expected {
  stdout?: string | RegExp;
  stderr?: string | RegExp;
  code?: number;
}

test('bpclient transcripts: ping, service, access keys, execute, discover', async (t) => {
  const udpPort = await freeUdpPort();
  // The central reads these (config layer "env"); the CLI commands ignore them.
  Object.assign(process.env, {
    ADMIRAL_CENTRAL__DISCOVERY__PORT: String(udpPort),
    ADMIRAL_CENTRAL__ACCESS_KEYS__SERVICES: '[{"pattern":"secret-*","key":"k1"}]',
    ADMIRAL_CENTRAL__ACCESS_KEYS__EXTENSIONS: '[{"module":"guarded","key":"k2"}]',
    ADMIRAL_CENTRAL__EXTENSIONS__TIMEOUT: '2',
  });
  const fleet = await startFleet(t, { nodes: [] });
  const run = async (args: readonly string[], want: Expected): Promise<string> => {
    const r = await runCli(args, fleet.dir);
    const where = `admiral ${args.join(' ')}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;
    const check = (got: string, exp: string | RegExp | undefined, what: string): void => {
      if (exp === undefined) return;
      if (typeof exp === 'string') assert.equal(got, exp, `${what} of ${where}`);
      else assert.match(got, exp, `${what} of ${where}`);
    };
    check(r.stdout, want.stdout ?? '', 'stdout');
    check(r.stderr, want.stderr ?? '', 'stderr');
    assert.equal(r.code, want.code ?? 0, `exit code of ${where}`);
    return r.stdout;
  };
  const broker = fleet.brokerUrl.replace('nats://', '');

  await t.test('ping echoes --data through the broker and central', async () => {
    await run(['--broker', broker, 'ping', '--data', 'foo'], { stdout: 'foo\n' });
    await run(['ping', '--data', 'foo'], { stdout: 'foo\n' });
  });

  await t.test('ping where nothing listens: connection refused, non-zero exit', async () => {
    const port = await closedTcpPort();
    await run(['--broker', `127.0.0.1:${port}`, 'ping', '--data', 'foo'], {
      stderr:
        `Fatal error: connection refused: nats://127.0.0.1:${port}\n` +
        'No broker answers there. `admiral up` starts admiral in this folder (data in ./admiral-data); for one already running elsewhere, give --data-dir DIR of its node or --broker URL.\n',
      code: 1,
    });
  });

  await t.test('ping where nothing answers: a timeout within the connect timeout', async (tt) => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    tt.after(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const addr = silent.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    const started = Date.now();
    await run(['--broker', `127.0.0.1:${port}`, 'ping', '--data', 'foo', '--timeout', '1s'], {
      stderr: `Fatal error: connection timed out: nats://127.0.0.1:${port}\n`,
      code: 1,
    });
    assert.ok(Date.now() - started < 8000, 'gave up within the timeout (plus CLI start)');
  });

  await t.test(
    'ping against a broker without a central: no responders within --central-wait, non-zero exit',
    async (tt) => {
      const lone = await Broker.start({ host: '127.0.0.1', port: 0 });
      tt.after(() => lone.close());
      await run(['--broker', lone.url, '--central-wait', '1s', 'ping', '--data', 'foo'], {
        stderr:
          'Fatal error: no central answers on adm.central.ping (no responders for 1 s: is a central node connected to this broker?)\n',
        code: 1,
      });
    },
  );

  await t.test('service register, then a duplicate register', async () => {
    await run(['service', 'register', '--name', 'foo', '--data', 'bar'], { stdout: 'bar\n' });
    await run(['--broker', broker, 'service', 'register', '--name', 'foo', '--data', 'bar'], {
      stderr: "Fatal error: Entry 'foo' already exists\n",
      code: 1,
    });
  });

  await t.test('service replace overwrites or creates', async () => {
    await run(['service', 'replace', '--name', 'foo', '--data', 'bar'], { stdout: 'bar\n' });
    await run(['service', 'replace', '--name', 'new_key', '--data', 'bar'], { stdout: 'bar\n' });
  });

  await t.test(
    'service register and update of JSON data add last_write_ts and last_write_ip',
    async () => {
      const t0 = Math.floor(Date.now() / 1000);
      const first = await run(
        ['service', 'register', '--name', 'foo3', '--data', '{"key": "special data"}'],
        {
          stdout:
            /^\{"last_write_ts": \d+, "last_write_ip": "127\.0\.0\.1", "key": "special data"\}\n$/,
        },
      );
      const ts1 = Number(/"last_write_ts": (\d+)/.exec(first)?.[1]);
      assert.ok(ts1 >= t0 && ts1 <= Math.floor(Date.now() / 1000), `fresh timestamp ${ts1}`);
      const second = await run(
        ['service', 'update', '--name', 'foo3', '--data', '{"new_key": "new data"}'],
        {
          stdout:
            /^\{"last_write_ts": \d+, "last_write_ip": "127\.0\.0\.1", "key": "special data", "new_key": "new data"\}\n$/,
        },
      );
      assert.ok(Number(/"last_write_ts": (\d+)/.exec(second)?.[1]) >= ts1);
      await run(['service', 'get', '--name', 'foo3'], { stdout: second });
    },
  );

  await t.test('service get, and get of a missing name', async () => {
    await run(['service', 'get', '--name', 'foo'], { stdout: 'bar\n' });
    await run(['service', 'get', '--name', 'foo_no_exist'], {
      stderr: "Fatal error: Entry 'foo_no_exist' not found\n",
      code: 1,
    });
  });

  await t.test('service list prints every name, and with --format json their data', async () => {
    await run(['service', 'list'], { stdout: 'foo\nfoo3\nnew_key\n' });
    const json = JSON.parse(
      await run(['--format', 'json', 'service', 'list'], {
        stdout: /^\[/,
      }),
    ) as { name: string; data: unknown }[];
    assert.deepEqual(
      json.map((r) => [r.name, typeof r.data]),
      [
        ['foo', 'string'],
        ['foo3', 'object'],
        ['new_key', 'string'],
      ],
    );
    await run(['--format', 'csv', '--cols', 'name', 'service', 'list'], {
      stdout: 'name\nfoo\nfoo3\nnew_key\n',
    });
  });

  await t.test('service delete prints nothing, whether or not the name existed', async () => {
    await run(['service', 'delete', '--name', 'foo'], { stdout: '' });
    await run(['service', 'delete', '--name', 'foo'], { stdout: '' });
    await run(['service', 'get', '--name', 'foo'], {
      stderr: "Fatal error: Entry 'foo' not found\n",
      code: 1,
    });
  });

  await t.test(
    'access keys: a guarded name needs its key, and a refusal reveals nothing',
    async () => {
      const denied = { stderr: 'Fatal error: access denied\n', code: 1 };
      await run(['service', 'register', '--name', 'secret-1', '--data', 'x'], denied);
      await run(
        ['--access-key', 'k1', 'service', 'register', '--name', 'secret-1', '--data', 'x'],
        {
          stdout: 'x\n',
        },
      );
      // Existing or not, without the key the answer is the same.
      await run(['service', 'get', '--name', 'secret-1'], denied);
      await run(['service', 'get', '--name', 'secret-none'], denied);
      await run(['--access-key', 'wrong', 'service', 'get', '--name', 'secret-1'], denied);
      await run(['service', 'delete', '--name', 'secret-1'], denied);
      await run(['--access-key', 'k1', 'service', 'get', '--name', 'secret-1'], { stdout: 'x\n' });
      await run(['--access-key', 'k1', 'service', 'get', '--name', 'secret-none'], {
        stderr: "Fatal error: Entry 'secret-none' not found\n",
        code: 1,
      });
      await run(['service', 'list'], { stdout: 'foo3\nnew_key\n' });
      await run(['--access-key', 'k1', 'service', 'list'], { stdout: 'foo3\nnew_key\nsecret-1\n' });
    },
  );

  await t.test(
    'install-extension checks a module, then execute runs its methods on central',
    async () => {
      await run(['install-extension', EXAMPLE], {
        stdout: 'hello.greet\nhello.sleep\nhello.whoami\n',
      });
      await run(['execute', '--method', 'hello.greet', '--data', 'world'], {
        stdout: 'hello world\n',
      });
      await run(['--broker', broker, 'execute', '--method', 'hello.whoami', '--data', 'x'], {
        stdout: '{"data": "x", "method": "hello.whoami", "clientIp": "127.0.0.1"}\n',
      });
      await run(['install-extension', join(FIXTURES, 'broken.mjs')], {
        stderr: new RegExp(
          `^Fatal error: ${join(FIXTURES, 'broken.mjs')} failed to load: SyntaxError: .+\\n$`,
        ),
        code: 1,
      });
      await run(['install-extension', join(FIXTURES, 'nomethods.mjs')], {
        stderr: `Fatal error: ${join(FIXTURES, 'nomethods.mjs')} exports no methods (functions)\n`,
        code: 1,
      });
      await run(['execute', '--method', 'broken.x'], {
        stderr: "Fatal error: no extension module 'broken' is installed\n",
        code: 1,
      });
    },
  );

  await t.test(
    'execute: unknown module or method, a throw, a hang, an exit: clear errors, central keeps serving',
    async () => {
      await run(['install-extension', join(FIXTURES, 'bad.mjs')], {
        stdout: 'bad.boom\nbad.exit\nbad.hang\nbad.ok\n',
      });
      await run(['execute', '--method', 'nope.greet'], {
        stderr: "Fatal error: no extension module 'nope' is installed\n",
        code: 1,
      });
      await run(['execute', '--method', 'hello.nope'], {
        stderr: "Fatal error: extension module 'hello' has no method 'nope'\n",
        code: 1,
      });
      await run(['execute', '--method', 'nodot'], {
        stderr:
          'Fatal error: Expected --method to be module.method (module: A-Z a-z 0-9 _ -; method: a JS identifier), got "nodot"\n',
        code: 1,
      });
      await run(['execute', '--method', 'bad.boom'], {
        stderr: 'Fatal error: extension method bad.boom failed: Error: kaboom\n',
        code: 1,
      });
      await run(['execute', '--method', 'bad.hang'], {
        stderr: 'Fatal error: extension method bad.hang did not finish within 2 s\n',
        code: 1,
      });
      await run(['execute', '--method', 'bad.exit'], {
        stderr: 'Fatal error: extension method bad.exit ended without an answer (exit code 3)\n',
        code: 1,
      });
      await run(['execute', '--method', 'bad.ok', '--data', 'still here'], {
        stdout: '{"echoed": "still here"}\n',
      });
      await run(['ping', '--data', 'alive'], { stdout: 'alive\n' });
    },
  );

  await t.test('execute on a guarded module needs its key', async (tt) => {
    // The module name is the file name: install the example again as `guarded`.
    const dir = mkdtempSync(join(tmpdir(), 'admiral-ext-'));
    tt.after(() => rmSync(dir, { recursive: true, force: true }));
    const guarded = join(dir, 'guarded.mjs');
    copyFileSync(EXAMPLE, guarded);
    await run(['install-extension', guarded], {
      stdout: 'guarded.greet\nguarded.sleep\nguarded.whoami\n',
    });
    await run(['execute', '--method', 'guarded.greet', '--data', 'x'], {
      stderr: 'Fatal error: access denied\n',
      code: 1,
    });
    await run(['--access-key', 'k2', 'execute', '--method', 'guarded.greet', '--data', 'x'], {
      stdout: 'hello x\n',
    });
  });

  await t.test('discover prints the IP of the central holding the name, alone', async () => {
    await run(['service', 'register', '--name', 'foo-cluster1', '--data', 'here'], {
      stdout: 'here\n',
    });
    const port = String(udpPort);
    await run(
      ['discover', '--name', 'foo-cluster1', '--port', port, '--broadcast', '127.255.255.255'],
      { stdout: '127.0.0.1\n' },
    );
    // Without --broadcast: the subnet's broadcast, and this host, where a local-mode central hears.
    await run(['discover', '--name', 'foo-cluster1', '--port', port], { stdout: '127.0.0.1\n' });
    const central = identityFromSeed(readFileSync(join(fleet.central.dataDir, 'identity.seed')));
    await run(
      [
        'discover',
        '--name',
        'foo-cluster1',
        '--port',
        port,
        '--broadcast',
        '127.0.0.1',
        '--trust-key',
        central.publicKey,
      ],
      { stdout: '127.0.0.1\n' },
    );
    await run(
      [
        'discover',
        '--name',
        'foo-cluster1',
        '--port',
        port,
        '--broadcast',
        '127.0.0.1',
        '--timeout',
        '500ms',
        '--trust-key',
        generateIdentity().publicKey,
      ],
      {
        stderr: "Fatal error: no central answered discovery of 'foo-cluster1' within 0.5 s\n",
        code: 1,
      },
    );
    await run(
      [
        'discover',
        '--name',
        'foo-cluster2',
        '--port',
        port,
        '--broadcast',
        '127.0.0.1',
        '--timeout',
        '500ms',
      ],
      {
        stderr: "Fatal error: no central answered discovery of 'foo-cluster2' within 0.5 s\n",
        code: 1,
      },
    );
  });
});
