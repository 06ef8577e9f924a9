import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { errorLog } from '../../src/methods/error-log.js';
import { startFleet } from '../helpers/fleet.js';
import { makeContext, tempDir } from '../methods/context.js';

// A file-appending reply method (REQToFileAppend) or central's error log finding a FIFO where its
// file should be refuses it at once, instead of blocking one of the node's I/O threads until some
// reader opens the FIFO.

test("a reply appended to a FIFO in the origin's data dir fails at once, and later replies still land", async (t) => {
  const fleet = await startFleet(t, { nodes: ['ship1'] });
  const dir = join(fleet.central.dataDir, 'results');
  await mkdir(dir, { recursive: true });
  execFileSync('mkfifo', [join(dir, 'fifo.log')]);
  const send = async (fileName: string): Promise<string> => {
    const sent = await fleet.send('central', [
      {
        toNode: 'ship1',
        method: 'REQCliCommand',
        methodArgs: ['echo', 'hello'],
        replyMethod: 'REQToFileAppend',
        directory: 'results',
        fileName,
      },
    ]);
    assert.equal(sent.rejected.length, 0, JSON.stringify(sent.rejected));
    return sent.accepted[0]!;
  };
  await Promise.all(Array.from({ length: 6 }, () => send('fifo.log')));
  await send('plain.log');
  const plain = join(dir, 'plain.log');
  const read = (f: string): string => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  // Each reply's result is kept in central's inbox.
  const db = new Database(join(fleet.central.dataDir, 'admiral.db'), { readonly: true });
  t.after(() => db.close());
  const refused = (): number =>
    (
      db
        .prepare("SELECT result FROM inbox WHERE method = 'REQToFileAppend' AND state = 'done'")
        .all() as { result: string | null }[]
    ).filter((r) => /fifo\.log is a FIFO, not a regular file/.test(r.result ?? '')).length;
  const deadline = Date.now() + 10_000;
  while ((!read(plain).includes('hello') || refused() < 6) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(read(plain), 'hello\n', 'the reply to a regular file landed');
  assert.equal(refused(), 6, 'each reply to the FIFO failed at once, naming it');
});

test('REQErrorLog refuses a FIFO where its error.log should be, without waiting for a reader', async (t) => {
  const dataDir = await tempDir(t);
  await mkdir(join(dataDir, 'errorLog', 'ship1'), { recursive: true });
  execFileSync('mkfifo', [join(dataDir, 'errorLog', 'ship1', 'error.log')]);
  const ctx = makeContext(dataDir, { method: 'REQErrorLog', data: 'boom' });
  const out = await Promise.race([
    errorLog.run(ctx),
    new Promise<'blocked'>((r) => setTimeout(() => r('blocked'), 3000).unref()),
  ]);
  assert.notEqual(out, 'blocked', 'REQErrorLog waited on the FIFO');
  assert.equal(out === 'blocked' ? '' : out.status, 'error');
  assert.match(
    out === 'blocked' ? '' : (out.error ?? ''),
    /error\.log is a FIFO, not a regular file/,
  );
});
