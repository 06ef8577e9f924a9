import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { type Fleet, startFleet } from '../helpers/fleet.js';
import { unlessAborted } from '../../src/methods/regular-file.js';
import type { OutboxRecord } from '../../src/store/outbox.js';

// A node asked to read a FIFO, a unix socket or a device refuses it at once, naming the path and
// its type, and such requests never hold the node's I/O threads: later reads still complete.

const TERMINAL = [
  'completed',
  'failed',
  'rejected',
  'expired',
  'interrupted',
  'cancelled',
] as const;

interface Ship {
  readonly fleet: Fleet;
  readonly dataDir: string;
  readonly fifo: string;
  readonly socket: string;
  readonly plain: string;
}

async function ship(t: TestContext): Promise<Ship> {
  const fleet = await startFleet(t, { nodes: [] });
  const dataDir = join(fleet.dir, 'ship1');
  const config = join(fleet.dir, 'ship1.yaml');
  await writeFile(config, `paths:\n  readAllow: [/dev]\n`);
  await fleet.startNode('ship1', ['--config', config]);
  const fifo = join(dataDir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const socket = join(dataDir, 'sock');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const plain = join(dataDir, 'plain.log');
  await writeFile(plain, 'a regular file\n');
  return { fleet, dataDir, fifo, socket, plain };
}

async function send(
  fleet: Fleet,
  method: string,
  methodArgs: readonly string[],
  methodTimeout = 10,
): Promise<string> {
  const result = await fleet.send('central', [
    { toNode: 'ship1', method, methodArgs, methodTimeout, replyMethod: 'REQNone' },
  ]);
  assert.equal(result.rejected.length, 0, JSON.stringify(result.rejected));
  return result.accepted[0]!;
}

const tail = (fleet: Fleet, path: string, methodTimeout?: number): Promise<string> =>
  send(fleet, 'REQTailFile', [path], methodTimeout);
const copy = (fleet: Fleet, path: string): Promise<string> =>
  send(fleet, 'REQCopyFileFrom', [path, 'ship1', `copies/${path.replaceAll('/', '_')}`]);

async function settled(fleet: Fleet, id: string, ms: number): Promise<OutboxRecord> {
  return fleet.waitFor('central', id, TERMINAL, ms);
}

describe('non-regular files', () => {
  test('tailing or copying a FIFO, a unix socket or a device fails at once, naming the path and its type', async (t) => {
    const { fleet, fifo, socket } = await ship(t);
    const cases: [string, RegExp][] = [
      [fifo, /fifo is a FIFO, not a regular file/],
      [socket, /sock is a socket, not a regular file/],
      ['/dev/zero', /\/dev\/zero is a character device, not a regular file/],
      ['/dev/null', /\/dev\/null is a character device, not a regular file/],
    ];
    for (const [path, expected] of cases) {
      for (const [what, start] of [
        ['tail', tail],
        ['copy', copy],
      ] as const) {
        const started = Date.now();
        const id = await start(fleet, path);
        const rec = await settled(fleet, id, 8000);
        assert.equal(rec.state, 'failed', `${what} of ${path}: ${JSON.stringify(rec)}`);
        assert.match(rec.error ?? '', expected, `${what} of ${path}`);
        assert.ok(
          Date.now() - started < 5000,
          `${what} of ${path} took ${Date.now() - started} ms`,
        );
      }
    }
  });

  test('20 FIFO tails do not hold the node: a tail and a copy of regular files sent after them complete', async (t) => {
    const { fleet, dataDir, plain } = await ship(t);
    const fifos: string[] = [];
    for (let i = 0; i < 20; i++) {
      const f = join(dataDir, `fifo${i}`);
      execFileSync('mkfifo', [f]);
      fifos.push(f);
    }
    const tails = await Promise.all(fifos.map((f) => tail(fleet, f, 30)));
    const copied = await copy(fleet, plain);
    const followed = await tail(fleet, plain, 2);
    const copyRec = await settled(fleet, copied, 10_000);
    assert.equal(copyRec.state, 'completed', JSON.stringify(copyRec));
    const tailRec = await settled(fleet, followed, 10_000);
    assert.equal(tailRec.state, 'completed', JSON.stringify(tailRec));
    for (const id of tails) {
      const rec = await settled(fleet, id, 5000);
      assert.equal(rec.state, 'failed', JSON.stringify(rec));
      assert.match(rec.error ?? '', /is a FIFO, not a regular file/);
    }
  });
});

describe('a file system that stalls', () => {
  test('an operation that never answers ends when the method is aborted, and a late handle is closed', async () => {
    const controller = new AbortController();
    let answer: (v: { closed: boolean }) => void = () => undefined;
    const stuck = new Promise<{ closed: boolean }>((resolve) => {
      answer = resolve;
    });
    const late: { closed: boolean }[] = [];
    const op = unlessAborted(stuck, controller.signal, (h) => late.push(h));
    setTimeout(() => controller.abort('timeout'), 20);
    await assert.rejects(op, /timeout/);
    answer({ closed: false });
    await new Promise((r) => setImmediate(r));
    assert.equal(late.length, 1, 'the answer that came after the abort is handed to `late`');
  });
});
