import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cliCommandCont, LineSplitter } from '../../src/methods/cli-command-cont.js';
import { groupAlive } from '../../src/methods/process-group.js';
import { abortAfter, makeContext, tempDir } from './context.js';

describe('REQCliCommandCont', () => {
  test('output lines are streamed one chunk each, in order, before the final result', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(dataDir, {
      method: 'REQCliCommandCont',
      methodArgs: ['sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; sleep 0.05; done; printf tail'],
    });
    const out = await cliCommandCont.run(ctx);
    assert.equal(out.status, 'ok');
    assert.equal(out.exitCode, 0);
    assert.deepEqual(
      ctx.chunks.map((c) => c.data),
      ['line1\n', 'line2\n', 'line3\n', 'line4\n', 'line5\n', 'tail'],
    );
    assert.ok(ctx.chunks.every((c) => c.stream === 'stdout'));
  });

  test('each line is sent as it is written, not when the command ends', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(dataDir, {
      method: 'REQCliCommandCont',
      methodArgs: ['sh', '-c', 'echo first; sleep 0.5; echo second'],
    });
    const running = cliCommandCont.run(ctx);
    const deadline = Date.now() + 400;
    while (ctx.chunks.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(
      ctx.chunks.map((c) => c.data),
      ['first\n'],
    );
    await running;
    assert.equal(ctx.chunks.length, 2);
  });

  test('stderr lines are streamed too and marked as such; the exit code comes last', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(dataDir, {
      method: 'REQCliCommandCont',
      methodArgs: ['sh', '-c', 'echo out; sleep 0.05; echo err >&2; exit 2'],
    });
    const out = await cliCommandCont.run(ctx);
    assert.equal(out.status, 'error');
    assert.equal(out.exitCode, 2);
    assert.deepEqual(ctx.chunks, [
      { data: 'out\n', stream: 'stdout' },
      { data: 'err\n', stream: 'stderr' },
    ]);
  });

  test('methodTimeout ends a never-ending command: its process group is killed', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(dataDir, {
      method: 'REQCliCommandCont',
      methodArgs: ['bash', '-c', 'while true; do echo tick; sleep 0.1; done | cat'],
      methodTimeout: 1,
    });
    abortAfter(t, ctx, 400, 'timeout');
    const out = await cliCommandCont.run(ctx);
    assert.equal(out.status, 'timeout');
    assert.ok(ctx.chunks.length >= 2, `expected ticks, got ${ctx.chunks.length}`);
    const pgid = Number(/process group (\d+) killed/.exec(out.error ?? '')?.[1]);
    assert.ok(pgid > 1, out.error);
    assert.equal(groupAlive(pgid), false);
  });

  test('streaming stops at maxOutputBytes and the final result says it was cut', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(
      dataDir,
      {
        method: 'REQCliCommandCont',
        methodArgs: ['sh', '-c', 'for i in 1 2 3 4 5 6; do echo 123456789; done'],
      },
      { maxOutputBytes: 25 },
    );
    const out = await cliCommandCont.run(ctx);
    assert.equal(out.truncated, true);
    assert.equal(ctx.chunks.map((c) => c.data).join(''), '123456789\n123456789\n12345');
    assert.match(out.data, /output truncated at 25 bytes/);
  });

  test('the line splitter keeps lines split across chunks whole', () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push(Buffer.from('ab')), []);
    assert.deepEqual(s.push(Buffer.from('c\nd')), ['abc\n']);
    assert.deepEqual(s.push(Buffer.from('\n\n')), ['d\n', '\n']);
    assert.equal(s.flush(), undefined);
  });
});
