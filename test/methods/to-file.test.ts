import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { toFile, toFileAppend } from '../../src/methods/to-file.js';
import { makeContext, tempDir } from './context.js';

/** Every path under `dir` with its content (files) or target (symlinks), to compare before/after. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(d: string): Promise<void> {
    for (const name of (await readdir(d)).sort()) {
      const p = join(d, name);
      const st = await lstat(p);
      if (st.isSymbolicLink()) out[p] = `-> ${await readlink(p)}`;
      else if (st.isDirectory()) {
        out[p] = 'dir';
        await walk(p);
      } else out[p] = await readFile(p, 'utf8');
    }
  }
  await walk(dir);
  return out;
}

/** A sandbox: `<base>/data` is the data dir, `<base>/outside` is what must never be touched. */
async function sandbox(
  t: TestContext,
): Promise<{ base: string; dataDir: string; outside: string }> {
  const base = await tempDir(t);
  const dataDir = join(base, 'data');
  const outside = join(base, 'outside');
  await mkdir(dataDir);
  await mkdir(outside);
  await writeFile(join(outside, 'victim'), 'original\n');
  return { base, dataDir, outside };
}

describe('REQToFile and REQToFileAppend', () => {
  test("REQToFile writes the reply's data and replaces what the file held", async (t) => {
    const { dataDir } = await sandbox(t);
    const request = { method: 'REQToFile', directory: 'web', fileName: 'web.html' };
    assert.equal(
      (await toFile.run(makeContext(dataDir, { ...request, data: 'first\n' }))).status,
      'ok',
    );
    const out = await toFile.run(makeContext(dataDir, { ...request, data: 'second\n' }));
    assert.equal(out.status, 'ok');
    assert.equal(await readFile(join(dataDir, 'web', 'web.html'), 'utf8'), 'second\n');
    assert.deepEqual(
      await readdir(join(dataDir, 'web')),
      ['web.html'],
      'no temporary file is left',
    );
  });

  test('REQToFileAppend appends each reply to the file', async (t) => {
    const { dataDir } = await sandbox(t);
    const request = { method: 'REQToFileAppend', directory: 'test/dir', fileName: 'test.result' };
    await toFileAppend.run(makeContext(dataDir, { ...request, data: 'one\n' }));
    await toFileAppend.run(makeContext(dataDir, { ...request, data: 'two\n' }));
    assert.equal(await readFile(join(dataDir, 'test', 'dir', 'test.result'), 'utf8'), 'one\ntwo\n');
  });

  test("an absolute directory lands under the data dir, as Steward's /var/cli/command_result/", async (t) => {
    const { dataDir } = await sandbox(t);
    const out = await toFileAppend.run(
      makeContext(dataDir, {
        method: 'REQToFileAppend',
        directory: '/var/cli/command_result/',
        fileName: 'some-file-name.result',
        data: 'tree output\n',
      }),
    );
    assert.equal(out.status, 'ok');
    assert.equal(
      await readFile(
        join(dataDir, 'var', 'cli', 'command_result', 'some-file-name.result'),
        'utf8',
      ),
      'tree output\n',
    );
  });

  test('a symlink that stays inside the data dir is followed', async (t) => {
    const { dataDir } = await sandbox(t);
    await mkdir(join(dataDir, 'real'));
    await symlink(join(dataDir, 'real'), join(dataDir, 'alias'));
    const out = await toFile.run(
      makeContext(dataDir, { method: 'REQToFile', directory: 'alias', fileName: 'f', data: 'x' }),
    );
    assert.equal(out.status, 'ok');
    assert.equal(await readFile(join(dataDir, 'real', 'f'), 'utf8'), 'x');
  });

  const rejected: {
    title: string;
    directory?: string;
    fileName?: string;
    setup?: (dataDir: string, outside: string) => Promise<void>;
  }[] = [
    { title: '".." climbing out of the data dir', directory: '../outside', fileName: 'victim' },
    { title: '".." hidden after a plain segment', directory: 'a/../../outside', fileName: 'new' },
    { title: 'an absolute directory climbing out', directory: '/../outside', fileName: 'victim' },
    { title: 'a NUL byte in the directory', directory: 'logs\0/x', fileName: 'f' },
    { title: 'a NUL byte in the file name', directory: 'logs', fileName: 'f\0.txt' },
    { title: 'a file name with a slash', directory: 'logs', fileName: '../../outside/victim' },
    { title: 'a file name that is ".."', directory: 'logs', fileName: '..' },
    { title: 'a missing file name', directory: 'logs' },
    {
      title: 'a directory that is a symlink to outside',
      directory: 'link',
      fileName: 'victim',
      setup: (d, o) => symlink(o, join(d, 'link')),
    },
    {
      title: 'a new directory below a symlink to outside',
      directory: 'link/deeper/still',
      fileName: 'new',
      setup: (d, o) => symlink(o, join(d, 'link')),
    },
    {
      title: 'a symlink to outside deeper in the path',
      directory: 'a/b/link',
      fileName: 'victim',
      setup: async (d, o) => {
        await mkdir(join(d, 'a', 'b'), { recursive: true });
        await symlink(o, join(d, 'a', 'b', 'link'));
      },
    },
    {
      title: 'a file name that is a symlink to a file outside',
      directory: 'logs',
      fileName: 'out.log',
      setup: async (d, o) => {
        await mkdir(join(d, 'logs'));
        await symlink(join(o, 'victim'), join(d, 'logs', 'out.log'));
      },
    },
    {
      title: 'a dangling symlink that would create a file outside',
      directory: 'logs',
      fileName: 'out.log',
      setup: async (d, o) => {
        await mkdir(join(d, 'logs'));
        await symlink(join(o, 'created-through-link'), join(d, 'logs', 'out.log'));
      },
    },
  ];

  for (const method of [toFile, toFileAppend]) {
    for (const c of rejected) {
      test(`${method.name} refuses ${c.title} and writes nothing`, async (t) => {
        const { base, dataDir, outside } = await sandbox(t);
        await c.setup?.(dataDir, outside);
        const before = await snapshot(base);
        const out = await method.run(
          makeContext(dataDir, {
            method: method.name,
            data: 'ATTACK\n',
            ...(c.directory === undefined ? {} : { directory: c.directory }),
            ...(c.fileName === undefined ? {} : { fileName: c.fileName }),
          }),
        );
        assert.equal(out.status, 'error');
        assert.equal(out.code, 'ADMIRAL_UNSAFE_PATH', out.error);
        assert.ok((out.error ?? '').length > 20, 'the error explains itself');
        assert.deepEqual(await snapshot(base), before, 'the filesystem is unchanged');
      });
    }
  }
});
