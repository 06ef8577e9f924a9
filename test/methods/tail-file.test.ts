import assert from 'node:assert/strict';
import { appendFile, mkdir, rename, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { sleep } from '../../src/methods/output.js';
import { createTailFile } from '../../src/methods/tail-file.js';
import { abortAfter, makeContext, type TestMethodContext, tempDir } from './context.js';

const tail = createTailFile({ pollMs: 30 });

async function waitForLines(ctx: TestMethodContext, n: number, ms = 2000): Promise<string[]> {
  const deadline = Date.now() + ms;
  while (ctx.chunks.length < n && Date.now() < deadline) await sleep(10);
  return ctx.chunks.map((c) => c.data);
}

describe('REQTailFile', () => {
  test('lines appended after the start are streamed; what was there before is not', async (t) => {
    const dataDir = await tempDir(t);
    const file = join(dataDir, 'app.log');
    await writeFile(file, 'old line\n');
    const ctx = makeContext(dataDir, { method: 'REQTailFile', methodArgs: [file] });
    const running = tail.run(ctx);
    t.after(() => ctx.controller.abort('cancelled'));
    await sleep(100);
    await appendFile(file, 'one\ntw');
    await sleep(80);
    await appendFile(file, 'o\nthree\n');
    assert.deepEqual(await waitForLines(ctx, 3), ['one\n', 'two\n', 'three\n']);
    ctx.controller.abort('timeout');
    const out = await running;
    assert.equal(out.status, 'ok', 'methodTimeout is how a tail normally ends');
  });

  test('a relative path is taken from the data dir, as Steward\'s "./test.log"', async (t) => {
    const dataDir = await tempDir(t);
    await writeFile(join(dataDir, 'test.log'), '');
    const ctx = makeContext(dataDir, { method: 'REQTailFile', methodArgs: ['./test.log'] });
    abortAfter(t, ctx, 400, 'timeout');
    const running = tail.run(ctx);
    await sleep(100);
    await appendFile(join(dataDir, 'test.log'), 'hello\n');
    const out = await running;
    assert.equal(out.status, 'ok');
    assert.deepEqual(
      ctx.chunks.map((c) => c.data),
      ['hello\n'],
    );
  });

  test('rotation: the rest of the old file is read, then the new file under the name is followed', async (t) => {
    const dataDir = await tempDir(t);
    const file = join(dataDir, 'app.log');
    await writeFile(file, '');
    const ctx = makeContext(dataDir, { method: 'REQTailFile', methodArgs: [file] });
    const running = tail.run(ctx);
    t.after(() => ctx.controller.abort('cancelled'));
    await sleep(80);
    await appendFile(file, 'before\n');
    await waitForLines(ctx, 1);
    await appendFile(file, 'last of old\n');
    await rename(file, `${file}.1`);
    await writeFile(file, 'first of new\n');
    await sleep(80);
    await appendFile(file, 'second of new\n');
    assert.deepEqual(await waitForLines(ctx, 4), [
      'before\n',
      'last of old\n',
      'first of new\n',
      'second of new\n',
    ]);
    ctx.controller.abort('timeout');
    await running;
  });

  test('truncation: when the file shrinks, following restarts from its beginning', async (t) => {
    const dataDir = await tempDir(t);
    const file = join(dataDir, 'app.log');
    await writeFile(file, 'x'.repeat(100) + '\n');
    const ctx = makeContext(dataDir, { method: 'REQTailFile', methodArgs: [file] });
    const running = tail.run(ctx);
    t.after(() => ctx.controller.abort('cancelled'));
    await sleep(80);
    await appendFile(file, 'a\n');
    await waitForLines(ctx, 1);
    await truncate(file, 0);
    await sleep(80);
    await appendFile(file, 'after truncate\n');
    assert.deepEqual(await waitForLines(ctx, 2), ['a\n', 'after truncate\n']);
    ctx.controller.abort('cancelled');
    const out = await running;
    assert.equal(out.status, 'cancelled');
  });

  test('a file outside paths.readAllow is refused with the setting named', async (t) => {
    const dataDir = await tempDir(t);
    const outside = await tempDir(t);
    await writeFile(join(outside, 'secret'), 'x\n');
    const ctx = makeContext(dataDir, {
      method: 'REQTailFile',
      methodArgs: [join(outside, 'secret')],
    });
    const out = await tail.run(ctx);
    assert.equal(out.status, 'error');
    assert.equal(out.code, 'ADMIRAL_READ_NOT_ALLOWED');
    assert.match(out.error ?? '', /paths\.readAllow/);
  });

  test('a symlink inside the allowed dir that leads outside it is refused', async (t) => {
    const dataDir = await tempDir(t);
    const outside = await tempDir(t);
    await writeFile(join(outside, 'secret'), 'x\n');
    await mkdir(join(dataDir, 'logs'));
    await symlink(join(outside, 'secret'), join(dataDir, 'logs', 'innocent.log'));
    const ctx = makeContext(dataDir, { method: 'REQTailFile', methodArgs: ['logs/innocent.log'] });
    const out = await tail.run(ctx);
    assert.equal(out.code, 'ADMIRAL_READ_NOT_ALLOWED');
    assert.match(out.error ?? '', /real path/);
  });

  test('a missing file is an error naming it', async (t) => {
    const dataDir = await tempDir(t);
    const out = await tail.run(
      makeContext(dataDir, { method: 'REQTailFile', methodArgs: ['nope.log'] }),
    );
    assert.equal(out.status, 'error');
    assert.match(out.error ?? '', /Expected a file to follow at .*nope\.log, found none/);
  });
});
