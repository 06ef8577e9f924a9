import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Broker } from '../../src/broker/index.js';
import { IDLE_TIMEOUT_MS, sweepStaleTransfers } from '../../src/methods/copy-transfer.js';
import { startInProcessNode, until } from '../helpers/in-process.js';

// Part and state files of copies nobody finished (a destination restarted mid-copy whose source
// never came back, a process killed mid-write) are dropped once idle as long as an open transfer
// would be; live and recent ones, and anything else in the folder, are left alone.

async function file(path: string, ageMs: number): Promise<void> {
  await writeFile(path, 'x');
  const at = new Date(Date.now() - ageMs);
  await utimes(path, at, at);
}

async function copyDir(dataDir: string): Promise<string> {
  const dir = join(dataDir, 'copy');
  await mkdir(dir, { recursive: true });
  const old = IDLE_TIMEOUT_MS + 60_000;
  await file(join(dir, 'old1.part'), old);
  await file(join(dir, 'old1.state'), old);
  await file(join(dir, 'old2.part'), old);
  // One file of the pair touched recently keeps the transfer: it may still resume.
  await file(join(dir, 'mixed.part'), old);
  await file(join(dir, 'mixed.state'), 1000);
  await file(join(dir, 'fresh.part'), 1000);
  await file(join(dir, 'notes.txt'), old);
  return dir;
}

test('sweepStaleTransfers drops transfers idle past the timeout and keeps the rest', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'admiral-copy-sweep-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  assert.deepEqual(await sweepStaleTransfers(dataDir), [], 'no copy folder yet');
  const dir = await copyDir(dataDir);
  assert.deepEqual(await sweepStaleTransfers(dataDir), ['old1', 'old2']);
  assert.deepEqual((await readdir(dir)).sort(), [
    'fresh.part',
    'mixed.part',
    'mixed.state',
    'notes.txt',
  ]);
  // Later, the fresh ones age past the timeout too.
  const later = Date.now() + IDLE_TIMEOUT_MS + 5000;
  assert.deepEqual(await sweepStaleTransfers(dataDir, later), ['fresh', 'mixed']);
  assert.deepEqual(await readdir(dir), ['notes.txt']);
});

test('a node drops stale copy transfers in its data dir when it starts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-copy-sweep-node-'));
  const broker = await Broker.start({ host: '127.0.0.1', port: 0 });
  const copies = await copyDir(join(dir, 'dest'));
  const node = await startInProcessNode('dest', dir, broker.url);
  t.after(async () => {
    await node.close();
    await broker.close();
    await rm(dir, { recursive: true, force: true });
  });
  await until('the stale transfers to be dropped', () => !existsSync(join(copies, 'old2.part')));
  assert.deepEqual((await readdir(copies)).sort(), [
    'fresh.part',
    'mixed.part',
    'mixed.state',
    'notes.txt',
  ]);
});
