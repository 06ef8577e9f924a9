import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { runCli } from '../helpers/fleet.js';
import { tempDir } from '../methods/context.js';

// Flags given to `admiral node start` and `admiral up` are written into <data-dir>/config.yaml,
// as Steward does, but only once the node has started with them: a value that was refused (a
// broker URL whose credentials contradict each other, an address that cannot be listened on)
// never lands in the file, where it would break, or leak into, every later start.

const SECRET = 'refusedPw71c3';

async function busyPort(t: TestContext): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

describe('refused flag values', () => {
  test('node start with a refused broker URL exits and writes no config.yaml', async (t) => {
    const dir = await tempDir(t, 'admiral-refused-');
    const dataDir = join(dir, 'x');
    const url = `nats://a:${SECRET}@127.0.0.1:1,nats://b:other@127.0.0.1:2`;
    const run = await runCli(
      ['node', 'start', '--name', 'x', '--data-dir', dataDir, '--broker', url],
      dir,
    );
    assert.notEqual(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stderr, /different credentials/);
    assert.ok(!run.stderr.includes(SECRET), run.stderr);
    assert.equal(existsSync(join(dataDir, 'config.yaml')), false, 'no config.yaml was written');
  });

  test('node start with a central instance name that is not one is refused, naming the key', async (t) => {
    const dir = await tempDir(t, 'admiral-refused-');
    const dataDir = join(dir, 'c');
    for (const bad of ['../x', 'a b', 'x'.repeat(65), 'a\nINFO forged']) {
      const run = await runCli(
        ['node', 'start', '--central-role', '--name', 'central', '--data-dir', dataDir]
          .concat(['--central-state', 'jetstream', '--central-instance', bad])
          .concat(['--broker', 'nats://127.0.0.1:1']),
        dir,
      );
      assert.notEqual(run.code, 0, run.stdout + run.stderr);
      assert.match(run.stderr, /central\.state\.instance/, run.stderr);
      assert.equal(existsSync(join(dataDir, 'config.yaml')), false, 'no config.yaml was written');
    }
  });

  test('node start with an address it cannot listen on leaves an existing config.yaml unchanged', async (t) => {
    const dir = await tempDir(t, 'admiral-refused-');
    const dataDir = join(dir, 'x');
    await mkdir(dataDir, { recursive: true });
    const before = 'nodeName: x\nlogLevel: info\n';
    await writeFile(join(dataDir, 'config.yaml'), before, { mode: 0o600 });
    const port = await busyPort(t);
    const run = await runCli(
      [
        'node',
        'start',
        '--data-dir',
        dataDir,
        '--broker',
        'nats://127.0.0.1:1',
        '--http-listen',
        `127.0.0.1:${port}`,
      ],
      dir,
    );
    assert.notEqual(run.code, 0, run.stdout + run.stderr);
    assert.equal(readFileSync(join(dataDir, 'config.yaml'), 'utf8'), before);
  });

  test('up with an HTTP address it cannot listen on writes no config.yaml', async (t) => {
    const dir = await tempDir(t, 'admiral-refused-');
    const dataDir = join(dir, 'admiral-data');
    const port = await busyPort(t);
    const run = await runCli(
      ['up', '--broker-port', '0', '--http-listen', `127.0.0.1:${port}`, '--data-dir', dataDir],
      dir,
      { ADMIRAL_CENTRAL__DISCOVERY__PORT: '0' },
    );
    assert.notEqual(run.code, 0, run.stdout + run.stderr);
    assert.equal(existsSync(join(dataDir, 'config.yaml')), false, 'no config.yaml was written');
  });
});
