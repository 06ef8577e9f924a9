import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFileTo, createCopyFileFrom } from '../../src/methods/copy-file.js';
import type { MethodOutput } from '../../src/methods/types.js';
import { makeContext, tempDir } from './context.js';
import { type FakeServices, fakeServices } from './services.js';

// The source runs REQCopyFileFrom; each REQCopyFileTo it submits is run at once by REQCopyFileTo in
// the destination's data dir, and its result settles the message's status as the node would.

interface Loop {
  readonly services: FakeServices;
  readonly dest: string;
  readonly results: MethodOutput[];
}

function loopback(dest: string, tamper?: (args: string[], data: string) => string): Loop {
  const services = fakeServices('ship1');
  const results: MethodOutput[] = [];
  services.onSubmit = (id, message) => {
    const args = message['methodArgs'] as string[];
    const raw = ((message['data'] as string[] | undefined) ?? []).join('');
    const data = tamper ? tamper(args, raw) : raw;
    const ctx = makeContext(dest, { method: 'REQCopyFileTo', methodArgs: args, data });
    void copyFileTo.run({ ...ctx, nodeName: 'ship2' }).then((out) => {
      results.push(out);
      services.statuses.set(id, {
        state: out.status === 'ok' ? 'completed' : 'failed',
        ...(out.error !== undefined && { error: out.error }),
        result: { status: out.status, output: out.data },
      });
    });
  };
  return { services, dest, results };
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile())
      out.push(join(e.parentPath ?? (e as { path: string }).path, e.name).slice(dir.length + 1));
  }
  return out.sort();
}

describe('REQCopyFileFrom and REQCopyFileTo', () => {
  test('a file of several chunks arrives whole, hash checked, under the data dir', async (t) => {
    const src = await tempDir(t);
    const dest = await tempDir(t);
    const content = randomBytes(5 * 1024 + 123);
    await writeFile(join(src, 'big.bin'), content);
    const loop = loopback(dest);
    const from = createCopyFileFrom({ chunkBytes: 1024, window: 2 });
    const ctx = makeContext(src, {
      method: 'REQCopyFileFrom',
      methodArgs: ['./big.bin', 'ship2', '/tmp/big.bin'],
    });
    const out = await from.run({ ...ctx, services: loop.services });
    assert.equal(out.status, 'ok', out.error);
    assert.match(out.data, new RegExp(`sha256 ${sha(content)}`));
    const written = await readFile(join(dest, 'tmp/big.bin'));
    assert.equal(sha(written), sha(content));
    const steps = loop.services.submitted.map((s) => (s.message['methodArgs'] as string[])[3]);
    assert.deepEqual(steps, ['chunk', 'chunk', 'chunk', 'chunk', 'chunk', 'chunk', 'commit']);
    assert.deepEqual(await listTree(dest), ['tmp/big.bin'], 'no part file is left');
  });

  test('an empty file is copied as one empty chunk', async (t) => {
    const src = await tempDir(t);
    const dest = await tempDir(t);
    await writeFile(join(src, 'empty'), '');
    const loop = loopback(dest);
    const ctx = makeContext(src, {
      method: 'REQCopyFileFrom',
      methodArgs: ['empty', 'ship2', 'copies/empty'],
    });
    const out = await createCopyFileFrom().run({ ...ctx, services: loop.services });
    assert.equal(out.status, 'ok', out.error);
    assert.equal((await readFile(join(dest, 'copies/empty'))).length, 0);
  });

  test('a chunk that does not match its hash fails the copy and leaves no file', async (t) => {
    const src = await tempDir(t);
    const dest = await tempDir(t);
    await writeFile(join(src, 'f'), randomBytes(3000));
    const loop = loopback(dest, (args, data) =>
      args[5] === '1' ? Buffer.from(randomBytes(1000)).toString('base64') : data,
    );
    const ctx = makeContext(src, {
      method: 'REQCopyFileFrom',
      methodArgs: ['f', 'ship2', 'out/f'],
    });
    const out = await createCopyFileFrom({ chunkBytes: 1000 }).run({
      ...ctx,
      services: loop.services,
    });
    assert.equal(out.status, 'error');
    assert.equal(out.code, 'ADMIRAL_COPY_FAILED');
    assert.match(out.error ?? '', /chunk 1 .* ended failed .*expected sha256/);
    await new Promise((r) => setTimeout(r, 50)); // the abort step runs
    assert.equal(existsSync(join(dest, 'out/f')), false);
    assert.deepEqual(await listTree(dest), [], 'the part file was dropped');
  });

  test('a whole-file hash that does not match is never renamed into place', async (t) => {
    const dest = await tempDir(t);
    const id = '01TESTTRANSFER';
    const data = Buffer.from('hello');
    const chunk = makeContext(dest, {
      method: 'REQCopyFileTo',
      methodArgs: ['src', 'ship1', '/x/final', 'chunk', id, '0', '0', sha(data)],
      data: data.toString('base64'),
    });
    assert.equal((await copyFileTo.run(chunk)).status, 'ok');
    assert.ok(existsSync(join(dest, 'copy', `${id}.part`)));
    const commit = makeContext(dest, {
      method: 'REQCopyFileTo',
      methodArgs: ['src', 'ship1', '/x/final', 'commit', id, '1', '5', sha(Buffer.from('other'))],
    });
    const out = await copyFileTo.run(commit);
    assert.equal(out.status, 'error');
    assert.match(out.error ?? '', /whole file's sha256/);
    assert.equal(existsSync(join(dest, 'x/final')), false);
    assert.equal(existsSync(join(dest, 'copy', `${id}.part`)), false);
  });

  test('a commit run again after its rename (crash recovery) reports the file in place', async (t) => {
    const dest = await tempDir(t);
    const id = '01TESTAGAIN';
    const data = Buffer.from('twice');
    const args = (step: string, ...rest: string[]) => ['s', 'ship1', 'd/f', step, id, ...rest];
    await copyFileTo.run(
      makeContext(dest, {
        method: 'REQCopyFileTo',
        methodArgs: args('chunk', '0', '0', sha(data)),
        data: data.toString('base64'),
      }),
    );
    const commit = makeContext(dest, {
      method: 'REQCopyFileTo',
      methodArgs: args('commit', '1', '5', sha(data)),
    });
    assert.equal((await copyFileTo.run(commit)).status, 'ok');
    const again = await copyFileTo.recover?.(commit);
    assert.equal(again?.status, 'ok', again?.error);
    assert.equal(await readFile(join(dest, 'd/f'), 'utf8'), 'twice');
  });

  test('a source outside paths.readAllow is refused, naming the setting, and nothing is sent', async (t) => {
    const src = await tempDir(t);
    const outside = await tempDir(t);
    await writeFile(join(outside, 'secret'), 'x');
    const loop = loopback(await tempDir(t));
    const ctx = makeContext(src, {
      method: 'REQCopyFileFrom',
      methodArgs: [join(outside, 'secret'), 'ship2', 'secret'],
    });
    const out = await createCopyFileFrom().run({ ...ctx, services: loop.services });
    assert.equal(out.status, 'error');
    assert.equal(out.code, 'ADMIRAL_READ_NOT_ALLOWED');
    assert.match(out.error ?? '', /paths\.readAllow/);
    assert.equal(loop.services.submitted.length, 0);
  });

  for (const [what, destPath, prepare] of [
    ['a destination that climbs out with ..', '../../escape', undefined],
    ['a destination with a NUL byte', 'a\0b', undefined],
    [
      'a destination through a symlink that leads out',
      'link/escape',
      async (dest: string, outside: string) => symlink(outside, join(dest, 'link')),
    ],
  ] as const) {
    test(`${what} is refused and writes nothing at either end`, async (t) => {
      const src = await tempDir(t);
      const dest = await tempDir(t);
      const outside = await tempDir(t);
      await writeFile(join(src, 'f'), 'payload');
      await prepare?.(dest, outside);
      const before = await listTree(dest);
      const loop = loopback(dest);
      const ctx = makeContext(src, {
        method: 'REQCopyFileFrom',
        methodArgs: ['f', 'ship2', destPath],
      });
      const out = await createCopyFileFrom().run({ ...ctx, services: loop.services });
      assert.equal(out.status, 'error');
      assert.match(out.error ?? '', /Refusing|climbs out|NUL|outside/);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await listTree(dest), before);
      assert.deepEqual(await readdir(outside), []);
      assert.equal(existsSync(join(dest, 'copy')), false, 'not even a part file');
    });
  }

  test('a cancelled copy stops, drops its part file and renames nothing', async (t) => {
    const src = await tempDir(t);
    const dest = await tempDir(t);
    await writeFile(join(src, 'f'), randomBytes(10_000));
    const loop = loopback(dest);
    // Chunks after the second are never confirmed: the copy waits until it is cancelled.
    const settle = loop.services.onSubmit;
    loop.services.onSubmit = (id, m) => {
      const args = m['methodArgs'] as string[];
      if (args[3] !== 'chunk' || Number(args[5]) < 2) settle?.(id, m);
    };
    const ctx = makeContext(src, { method: 'REQCopyFileFrom', methodArgs: ['f', 'ship2', 'f'] });
    setTimeout(() => ctx.controller.abort('cancelled'), 100);
    const out = await createCopyFileFrom({ chunkBytes: 1000, window: 3 }).run({
      ...ctx,
      services: loop.services,
    });
    assert.equal(out.status, 'cancelled');
    const last = loop.services.submitted.at(-1)?.message['methodArgs'] as string[];
    assert.equal(last[3], 'abort');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(existsSync(join(dest, 'f')), false);
    assert.deepEqual(await listTree(dest), []);
  });

  test("Steward's own REQCopyFileTo (three methodArgs, content in data) writes the file", async (t) => {
    const dest = await tempDir(t);
    const ctx = makeContext(dest, {
      method: 'REQCopyFileTo',
      methodArgs: ['./tmp2.txt', 'ship1', '/tmp/tmp2.txt'],
      data: 'content\n',
    });
    const out = await copyFileTo.run(ctx);
    assert.equal(out.status, 'ok', out.error);
    assert.equal(await readFile(join(dest, 'tmp/tmp2.txt'), 'utf8'), 'content\n');
    assert.deepEqual(await readdir(join(dest, 'copy')), []);
  });

  test('a REQCopyFileTo meant for another node is refused and writes nothing', async (t) => {
    const dest = await tempDir(t);
    await mkdir(join(dest, 'keep'));
    const ctx = makeContext(dest, {
      method: 'REQCopyFileTo',
      methodArgs: ['a', 'ship9', 'keep/b'],
      data: 'x',
    });
    const out = await copyFileTo.run(ctx);
    assert.equal(out.status, 'error');
    assert.match(out.error ?? '', /this copy is for ship9/);
    assert.deepEqual(await listTree(dest), []);
  });
});
