import assert from 'node:assert/strict';
import { mkdir, realpath, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import { ReadNotAllowedError, UnsafePathError } from '../../src/methods/errors.js';
import { resolveInside, resolveReadable } from '../../src/methods/safe-path.js';
import { tempDir } from './context.js';

describe('path confinement', () => {
  test('resolveInside maps directory and fileName under the root, absolute or relative', async (t) => {
    const root = await realpath(await tempDir(t));
    assert.equal(await resolveInside(root, 'a/b', 'f'), join(root, 'a', 'b', 'f'));
    assert.equal(await resolveInside(root, '/a/b/', 'f'), join(root, 'a', 'b', 'f'));
    assert.equal(await resolveInside(root, 'a/./x/../b', 'f'), join(root, 'a', 'b', 'f'));
    assert.equal(await resolveInside(root, undefined, 'f'), join(root, 'f'));
  });

  test('resolveInside throws UnsafePathError with its code for a path that leads out', async (t) => {
    const root = await tempDir(t);
    await assert.rejects(
      resolveInside(root, '../x', 'f'),
      (err: unknown) =>
        err instanceof UnsafePathError &&
        err.code === 'ADMIRAL_UNSAFE_PATH' &&
        err.name === 'UnsafePathError',
    );
  });

  test("resolveInside refuses admiral's own state in the data dir and the protected paths, and nothing else", async (t) => {
    const root = await realpath(await tempDir(t));
    const watched = join(root, 'inbox-folder');
    const refused: [string, string][] = [
      ['', 'identity.seed'],
      ['/', 'trust.json'],
      ['.', 'config.yaml'],
      ['', 'admiral.db-wal'],
      ['extensions', 'pwn.mjs'],
      ['extensions/deeper', 'pwn.mjs'],
      ['run/0190a1b2', 'exit'],
      ['copy', 'abc.state'],
      ['copy', 'abc.part'],
      ['keys', 'node.nk'],
      ['', 'other.creds'],
      ['inbox-folder', 'message.json'],
    ];
    for (const [directory, fileName] of refused) {
      await assert.rejects(
        resolveInside(root, directory, fileName, [watched]),
        (err: unknown) => err instanceof UnsafePathError && /admiral's own state/.test(err.message),
        `${directory}/${fileName} was allowed`,
      );
    }
    const allowed: [string, string][] = [
      ['copy', 'copy.log'],
      ['results', 'trust.json'],
      ['web', 'index.html'],
      ['', 'hello.txt'],
    ];
    for (const [directory, fileName] of allowed) {
      assert.equal(
        await resolveInside(root, directory, fileName, [watched]),
        join(root, directory, fileName),
      );
    }
  });

  test('a file under an existing regular file is refused', async (t) => {
    const root = await tempDir(t);
    await writeFile(join(root, 'plain'), '');
    await assert.rejects(resolveInside(root, 'plain', 'f'), /to be a directory/);
  });

  test('resolveReadable allows a file under an allowed dir and returns its real path', async (t) => {
    const allowed = await realpath(await tempDir(t));
    await mkdir(join(allowed, 'logs'));
    await writeFile(join(allowed, 'logs', 'a.log'), '');
    await symlink(join(allowed, 'logs', 'a.log'), join(allowed, 'current.log'));
    assert.equal(
      await resolveReadable('current.log', [allowed], allowed),
      join(allowed, 'logs', 'a.log'),
    );
  });

  test('resolveReadable refuses a path outside the allowlist and names paths.readAllow', async (t) => {
    const allowed = await tempDir(t);
    const other = await tempDir(t);
    await writeFile(join(other, 'x'), '');
    await assert.rejects(
      resolveReadable(join(other, 'x'), [allowed]),
      (err: unknown) =>
        err instanceof ReadNotAllowedError &&
        err.code === 'ADMIRAL_READ_NOT_ALLOWED' &&
        err.message.includes('paths.readAllow'),
    );
    await assert.rejects(
      resolveReadable(join(allowed, '..', basename(other), 'x'), [allowed]),
      ReadNotAllowedError,
    );
  });
});
