import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { errorLog, formatAnsic, formatErrorLogLine } from '../../src/methods/error-log.js';
import { hello } from '../../src/methods/hello.js';
import { none } from '../../src/methods/none.js';
import { ping, pong } from '../../src/methods/ping.js';
import { toConsole } from '../../src/methods/to-console.js';
import { makeContext, tempDir } from './context.js';

describe('small methods', () => {
  test('REQPing answers pong and REQPong accepts it writing nothing', async (t) => {
    const dataDir = await tempDir(t);
    assert.deepEqual(await ping.run(makeContext(dataDir, { method: 'REQPing' })), {
      status: 'ok',
      data: 'pong',
    });
    const out = await pong.run(makeContext(dataDir, { method: 'REQPong', data: 'pong' }));
    assert.equal(out.status, 'ok');
    assert.deepEqual(await readdir(dataDir), []);
  });

  test('REQHello is accepted with its data handed back for central to record', async (t) => {
    const dataDir = await tempDir(t);
    const out = await hello.run(
      makeContext(dataDir, { method: 'REQHello', data: '{"os":"linux"}' }),
    );
    assert.deepEqual(out, { status: 'ok', data: '{"os":"linux"}' });
  });

  test('REQNone drops the reply and writes nothing', async (t) => {
    const dataDir = await tempDir(t);
    const out = await none.run(makeContext(dataDir, { method: 'REQNone', data: 'x' }));
    assert.equal(out.status, 'ok');
    assert.deepEqual(await readdir(dataDir), []);
  });

  test('REQToConsole prints each line of the reply to the node console', async (t) => {
    const dataDir = await tempDir(t);
    const ctx = makeContext(dataDir, { method: 'REQToConsole', data: 'a\n\nb\n' });
    const out = await toConsole.run(ctx);
    assert.equal(out.status, 'ok');
    assert.deepEqual(ctx.consoleLines, ['a', '', 'b']);
  });

  test("an error-log line has Steward's shape: ANSIC time, level, node, method, id, reason", () => {
    const line = formatErrorLogLine({
      time: new Date(Date.UTC(2021, 8, 21, 9, 17, 55)),
      level: 'info',
      node: 'central',
      toNode: 'ship2',
      fromNode: 'central',
      method: 'REQOpProcessList',
      messageId: '01J0ABC',
      reason: 'max retries reached,\ncheck if node is up',
    });
    assert.equal(
      line,
      'Tue Sep 21 09:17:55 2021, info: node: central, toNode: ship2, fromNode: central, method: REQOpProcessList, id: 01J0ABC: max retries reached, check if node is up\n',
    );
    assert.equal(formatAnsic(new Date(Date.UTC(2021, 8, 1, 1, 2, 3))), 'Wed Sep  1 01:02:03 2021');
  });

  test('REQErrorLog appends one line per error to errorLog/<central>/error.log', async (t) => {
    const dataDir = await tempDir(t);
    const report = (reason: string, id: string) =>
      errorLog.run(
        makeContext(dataDir, {
          method: 'REQErrorLog',
          fromNode: 'ship2',
          data: JSON.stringify({
            time: '2026-01-02T03:04:05Z',
            node: 'ship2',
            method: 'REQCliCommand',
            messageId: id,
            reason,
          }),
        }),
      );
    assert.equal((await report('exit code 1', 'ID1')).status, 'ok');
    assert.equal((await report('two\nlines', 'ID2')).status, 'ok');
    const text = await readFile(join(dataDir, 'errorLog', 'ship1', 'error.log'), 'utf8');
    assert.equal(
      text,
      'Fri Jan  2 03:04:05 2026, error: node: ship2, method: REQCliCommand, id: ID1: exit code 1\n' +
        'Fri Jan  2 03:04:05 2026, error: node: ship2, method: REQCliCommand, id: ID2: two lines\n',
    );
  });

  test('REQErrorLog takes plain text (a Steward node) as the reason from the sending node', async (t) => {
    const dataDir = await tempDir(t);
    await errorLog.run(
      makeContext(dataDir, { method: 'REQErrorLog', fromNode: 'ship3', data: 'disk full\n' }),
    );
    const text = await readFile(join(dataDir, 'errorLog', 'ship1', 'error.log'), 'utf8');
    assert.match(
      text,
      /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}, error: node: ship3, method: -, id: -: disk full\n$/,
    );
  });
});
