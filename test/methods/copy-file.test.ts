import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { copyFileTo, createCopyFileFrom } from '../../src/methods/copy-file.js';
import {
  allocFrame,
  FRAME_HEADER_BYTES,
  incoming,
  incomingKey,
  sealFrame,
  stateFile,
} from '../../src/methods/copy-transfer.js';
import type { MethodOutput } from '../../src/methods/types.js';
import { makeContext, newId, tempDir } from './context.js';
import { type FakeBulk, type FakeServices, fakeBulk, fakeServices } from './services.js';

// The source runs REQCopyFileFrom; each durable REQCopyFileTo step it submits (open, commit,
// abort) is run at once by REQCopyFileTo in the destination's data dir, and its result settles the
// message's status as the node would. Chunks travel through an in-memory bulk transport.

interface Loop {
  readonly services: FakeServices;
  readonly bulk: FakeBulk;
  readonly dest: string;
  readonly results: MethodOutput[];
  /** Steps that are never delivered (a source that died before sending them). */
  drop?: (step: string) => boolean;
}

function loopback(dest: string): Loop {
  const bulk = fakeBulk();
  const services = fakeServices('ship1', [], bulk);
  const destServices = fakeServices('ship2', [], bulk);
  const loop: Loop = { services, bulk, dest, results: [] };
  services.onSubmit = (id, message) => {
    const args = message['methodArgs'] as string[];
    if (loop.drop?.(args[3] ?? '')) return;
    const data = ((message['data'] as string[] | undefined) ?? []).join('');
    const ctx = makeContext(dest, { method: 'REQCopyFileTo', methodArgs: args, data });
    void copyFileTo.run({ ...ctx, nodeName: 'ship2', services: destServices }).then((out) => {
      loop.results.push(out);
      services.statuses.set(id, {
        state: out.status === 'ok' ? 'completed' : 'failed',
        ...(out.error !== undefined && { error: out.error }),
        result: { status: out.status, output: out.data },
      });
    });
  };
  return loop;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const steps = (loop: Loop): string[] =>
  loop.services.submitted.map((s) => (s.message['methodArgs'] as string[])[3] ?? '');
const frameOffset = (data: Uint8Array): number =>
  Number(Buffer.from(data.buffer, data.byteOffset, data.byteLength).readBigUInt64BE(1));

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile())
      out.push(join(e.parentPath ?? (e as { path: string }).path, e.name).slice(dir.length + 1));
  }
  return out.sort();
}

/** Runs REQCopyFileTo `open` for a transfer at `dest` with `key`, as ship2. */
async function openAt(dest: string, bulk: FakeBulk, id: string, size: number, key: Buffer) {
  const ctx = makeContext(dest, {
    method: 'REQCopyFileTo',
    methodArgs: ['src', 'ship2', '/x/final', 'open', id, String(size), key.toString('base64url')],
  });
  return copyFileTo.run({ ...ctx, nodeName: 'ship2', services: fakeServices('ship2', [], bulk) });
}

function frameOf(data: Buffer, key: Buffer, id: string, offset: number): Buffer {
  const frame = allocFrame(data.length);
  data.copy(frame, FRAME_HEADER_BYTES);
  return sealFrame(frame, key, id, offset);
}

describe('REQCopyFileFrom and REQCopyFileTo', () => {
  test('a file of several chunks arrives whole, hash checked, with only open and commit durable', async (t) => {
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
    assert.match(out.data, new RegExp(`6 chunks, sha256 ${sha(content)}`));
    const written = await readFile(join(dest, 'tmp/big.bin'));
    assert.equal(sha(written), sha(content));
    assert.deepEqual(steps(loop), ['open', 'commit']);
    assert.equal(loop.bulk.requests.length, 6);
    assert.ok(loop.bulk.requests.every((r) => r.subject === `adm.bulk.ship2.${ctx.request.id}`));
    assert.deepEqual(await listTree(dest), ['tmp/big.bin'], 'no part or state file is left');
    assert.equal(loop.bulk.served.size, 0, 'the bulk subject is no longer served');
  });

  test('an empty file is copied with no chunk at all', async (t) => {
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
    assert.equal(loop.bulk.requests.length, 0);
  });

  test('chunks are cut to fit the broker max_payload', async (t) => {
    const src = await tempDir(t);
    const dest = await tempDir(t);
    const content = randomBytes(10_000);
    await writeFile(join(src, 'f'), content);
    const loop = loopback(dest);
    (loop.bulk as { maxPayload: () => number }).maxPayload = () => 2000 + FRAME_HEADER_BYTES;
    const ctx = makeContext(src, { method: 'REQCopyFileFrom', methodArgs: ['f', 'ship2', 'f'] });
    const out = await createCopyFileFrom().run({ ...ctx, services: loop.services });
    assert.equal(out.status, 'ok', out.error);
    assert.ok(loop.bulk.requests.every((r) => r.data.length <= 2000 + FRAME_HEADER_BYTES));
    assert.equal(loop.bulk.requests.length, 5);
    assert.equal(sha(await readFile(join(dest, 'f'))), sha(content));
  });

  test('a chunk corrupted on the way is refused by its hash and sent again', async (t) => {
    const src = await tempDir(t);
    const dest = await tempDir(t);
    const content = randomBytes(3000);
    await writeFile(join(src, 'f'), content);
    const loop = loopback(dest);
    let corrupted = 0;
    loop.bulk.intercept = (_subject, data) => {
      if (frameOffset(data) !== 1000 || corrupted > 0) return data;
      corrupted += 1;
      const bad = Buffer.from(data);
      bad[FRAME_HEADER_BYTES + 10] = (bad[FRAME_HEADER_BYTES + 10]! + 1) % 256;
      return bad;
    };
    const ctx = makeContext(src, {
      method: 'REQCopyFileFrom',
      methodArgs: ['f', 'ship2', 'out/f'],
    });
    const out = await createCopyFileFrom({ chunkBytes: 1000, retryDelayMs: 1 }).run({
      ...ctx,
      services: loop.services,
    });
    assert.equal(out.status, 'ok', out.error);
    assert.equal(corrupted, 1);
    assert.equal(loop.bulk.requests.length, 4);
    assert.equal(sha(await readFile(join(dest, 'out/f'))), sha(content));
  });

  test('a chunk that never matches its hash fails the copy and leaves no file', async (t) => {
    const src = await tempDir(t);
    const dest = await tempDir(t);
    await writeFile(join(src, 'f'), randomBytes(3000));
    const loop = loopback(dest);
    loop.bulk.intercept = (_subject, data) => {
      if (frameOffset(data) !== 1000) return data;
      const bad = Buffer.from(data);
      bad[FRAME_HEADER_BYTES] = (bad[FRAME_HEADER_BYTES]! + 1) % 256;
      return bad;
    };
    const ctx = makeContext(src, {
      method: 'REQCopyFileFrom',
      methodArgs: ['f', 'ship2', 'out/f'],
    });
    const out = await createCopyFileFrom({ chunkBytes: 1000, retryDelayMs: 1 }).run({
      ...ctx,
      services: loop.services,
    });
    assert.equal(out.status, 'error');
    assert.equal(out.code, 'ADMIRAL_COPY_FAILED');
    assert.match(out.error ?? '', /chunk at 1000 .* refused by ship2 4 times: .*expected sha256/);
    assert.equal(steps(loop).at(-1), 'abort');
    await new Promise((r) => setTimeout(r, 50)); // the abort step runs
    assert.equal(existsSync(join(dest, 'out/f')), false);
    assert.deepEqual(await listTree(dest), [], 'the part file was dropped');
  });

  test('a chunk not sealed with the transfer key is refused and never written', async (t) => {
    const dest = await tempDir(t);
    const bulk = fakeBulk();
    const id = newId();
    const key = randomBytes(32);
    assert.equal((await openAt(dest, bulk, id, 5, key)).status, 'ok');
    const forged = frameOf(Buffer.from('evil!'), randomBytes(32), id, 0);
    const answer = JSON.parse(
      Buffer.from(await bulk.request(`adm.bulk.ship2.${id}`, forged, 1000)).toString(),
    ) as { ok: boolean; error: string; retry: boolean };
    assert.deepEqual(answer, {
      ok: false,
      error: 'chunk not authenticated by the transfer key',
      retry: false,
    });
    // Nor can a genuine frame be moved to another offset.
    const genuine = frameOf(Buffer.from('ab'), key, id, 0);
    genuine.writeBigUInt64BE(3n, 1);
    const moved = JSON.parse(
      Buffer.from(await bulk.request(`adm.bulk.ship2.${id}`, genuine, 1000)).toString(),
    ) as { ok: boolean };
    assert.equal(moved.ok, false);
    assert.equal((await stat(join(dest, 'copy', `${id}.part`))).size, 0);
    const abort = makeContext(dest, {
      method: 'REQCopyFileTo',
      methodArgs: ['src', 'ship2', '/x/final', 'abort', id],
    });
    assert.equal((await copyFileTo.run({ ...abort, nodeName: 'ship2' })).status, 'ok');
    assert.deepEqual(await listTree(dest), []);
  });

  test('a whole-file hash that does not match is never renamed into place', async (t) => {
    const dest = await tempDir(t);
    const bulk = fakeBulk();
    const id = newId();
    const key = randomBytes(32);
    assert.equal((await openAt(dest, bulk, id, 5, key)).status, 'ok');
    await bulk.request(`adm.bulk.ship2.${id}`, frameOf(Buffer.from('hello'), key, id, 0), 1000);
    assert.ok(existsSync(join(dest, 'copy', `${id}.part`)));
    const commit = makeContext(dest, {
      method: 'REQCopyFileTo',
      methodArgs: ['src', 'ship2', '/x/final', 'commit', id, '5', sha(Buffer.from('other'))],
    });
    const out = await copyFileTo.run({ ...commit, nodeName: 'ship2' });
    assert.equal(out.status, 'error');
    assert.match(out.error ?? '', /whole file's sha256/);
    assert.equal(existsSync(join(dest, 'x/final')), false);
    assert.deepEqual(await listTree(dest), []);
    assert.equal(bulk.served.size, 0);
  });

  test('a commit run again after its rename (crash recovery) reports the file in place', async (t) => {
    const dest = await tempDir(t);
    const bulk = fakeBulk();
    const id = newId();
    const key = randomBytes(32);
    const data = Buffer.from('twice');
    await openAt(dest, bulk, id, 5, key);
    await bulk.request(`adm.bulk.ship2.${id}`, frameOf(data, key, id, 0), 1000);
    const commit = {
      ...makeContext(dest, {
        method: 'REQCopyFileTo',
        methodArgs: ['s', 'ship2', 'x/final', 'commit', id, '5', sha(data)],
      }),
      nodeName: 'ship2',
    };
    assert.equal((await copyFileTo.run(commit)).status, 'ok');
    const again = await copyFileTo.recover?.(commit);
    assert.equal(again?.status, 'ok', again?.error);
    assert.equal(await readFile(join(dest, 'x/final'), 'utf8'), 'twice');
  });

  test('a source that died mid-copy continues from what the destination confirmed', async (t) => {
    const src = await tempDir(t);
    const dest = await tempDir(t);
    const content = randomBytes(10_000);
    await writeFile(join(src, 'f'), content);
    const loop = loopback(dest);
    // The first run's frames from 5000 on get no answer, and it dies without sending its abort.
    // It dies once the frame at 5000 went unanswered, not after a fixed time: on a loaded machine
    // 30 ms was sometimes only enough for four chunks.
    const first = makeContext(src, { method: 'REQCopyFileFrom', methodArgs: ['f', 'ship2', 'f'] });
    loop.bulk.intercept = (_s, data) => {
      if (frameOffset(data) < 5000) return data;
      setImmediate(() => first.controller.abort('cancelled'));
      return undefined;
    };
    loop.drop = (step) => step === 'abort';
    const from = createCopyFileFrom({ chunkBytes: 1000, window: 1, chunkTimeoutMs: 20 });
    const out1 = await from.run({ ...first, services: loop.services });
    assert.equal(out1.status, 'cancelled');
    assert.equal(existsSync(join(dest, 'f')), false);

    loop.bulk.intercept = undefined;
    loop.bulk.requests.length = 0;
    const again = makeContext(src, {
      method: 'REQCopyFileFrom',
      methodArgs: ['f', 'ship2', 'f'],
      id: first.request.id,
    });
    const out2 = await from.recover!({ ...again, services: loop.services });
    assert.equal(out2?.status, 'ok', out2?.error);
    assert.match(out2?.data ?? '', /resumed at 5000/);
    assert.deepEqual(
      loop.bulk.requests.map((r) => frameOffset(r.data)),
      [5000, 6000, 7000, 8000, 9000],
    );
    assert.equal(sha(await readFile(join(dest, 'f'))), sha(content));
    assert.deepEqual(await listTree(dest), ['f']);
  });

  test('a destination restarted mid-copy resumes from its saved point and checks the file from disk', async (t) => {
    const dest = await tempDir(t);
    const bulk = fakeBulk();
    const id = newId();
    const content = randomBytes(6000);
    const send = async (key: Buffer, from: number, to: number) => {
      for (let at = from; at < to; at += 1000) {
        const frame = frameOf(content.subarray(at, at + 1000), key, id, at);
        await bulk.request(`adm.bulk.ship2.${id}`, frame, 1000);
      }
    };
    const first = randomBytes(32);
    assert.equal((await openAt(dest, bulk, id, 6000, first)).data, 'resume 0\n');
    await send(first, 0, 3000);
    // The process dies: its open transfer is gone, the part file and the saved point stay.
    await incoming.get(incomingKey(dest, id))?.close();
    incoming.clear();
    await writeFile(stateFile(dest, id), JSON.stringify({ contiguous: 3000, size: 6000 }));
    const second = randomBytes(32);
    assert.equal((await openAt(dest, bulk, id, 6000, second)).data, 'resume 3000\n');
    await send(second, 3000, 6000);
    const commit = makeContext(dest, {
      method: 'REQCopyFileTo',
      methodArgs: ['src', 'ship2', '/x/final', 'commit', id, '6000', sha(content)],
    });
    const out = await copyFileTo.run({ ...commit, nodeName: 'ship2' });
    assert.equal(out.status, 'ok', out.error);
    assert.equal(sha(await readFile(join(dest, 'x/final'))), sha(content));
    assert.deepEqual(await listTree(dest), ['x/final']);
  });

  test('a destination that stopped serving the transfer is opened again and the copy completes', async (t) => {
    const src = await tempDir(t);
    const dest = await tempDir(t);
    const content = randomBytes(6000);
    await writeFile(join(src, 'f'), content);
    const loop = loopback(dest);
    let dropped = false;
    loop.bulk.intercept = (_s, data) => {
      if (frameOffset(data) === 3000 && !dropped) {
        dropped = true;
        loop.bulk.served.clear(); // as if its subscription were gone
      }
      return data;
    };
    const from = createCopyFileFrom({ chunkBytes: 1000, window: 1, retryDelayMs: 1 });
    const ctx = makeContext(src, { method: 'REQCopyFileFrom', methodArgs: ['f', 'ship2', 'f'] });
    const out = await from.run({ ...ctx, services: loop.services });
    assert.equal(out.status, 'ok', out.error);
    assert.deepEqual(steps(loop), ['open', 'open', 'commit']);
    assert.equal(sha(await readFile(join(dest, 'f'))), sha(content));
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
      assert.equal(loop.bulk.requests.length, 0);
    });
  }

  test('a cancelled copy stops, drops its part file and renames nothing', async (t) => {
    const src = await tempDir(t);
    const dest = await tempDir(t);
    await writeFile(join(src, 'f'), randomBytes(10_000));
    const loop = loopback(dest);
    // Frames from the third on are never answered: the copy waits until it is cancelled.
    loop.bulk.intercept = (_s, data) => (frameOffset(data) < 2000 ? data : undefined);
    const ctx = makeContext(src, { method: 'REQCopyFileFrom', methodArgs: ['f', 'ship2', 'f'] });
    setTimeout(() => ctx.controller.abort('cancelled'), 100);
    const out = await createCopyFileFrom({ chunkBytes: 1000, window: 3, chunkTimeoutMs: 300 }).run({
      ...ctx,
      services: loop.services,
    });
    assert.equal(out.status, 'cancelled');
    assert.equal(steps(loop).at(-1), 'abort');
    // The destination runs the abort on its own time: wait for its answer, not a fixed delay.
    for (let i = 0; i < 200 && loop.results.length < steps(loop).length; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(loop.results.length, steps(loop).length, 'every step was answered');
    assert.equal(existsSync(join(dest, 'f')), false);
    assert.deepEqual(await listTree(dest), []);
    assert.equal(loop.bulk.served.size, 0);
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
