import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import { httpGet } from '../../src/methods/http-get.js';
import { abortAfter, makeContext, tempDir } from './context.js';

async function serve(t: TestContext, handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('REQHttpGet', () => {
  test('the body of the page comes back as data', async (t) => {
    const base = await serve(t, (_req, res) => res.end('<html>hello</html>'));
    const dataDir = await tempDir(t);
    const out = await httpGet.run(
      makeContext(dataDir, { method: 'REQHttpGet', methodArgs: [`${base}/page.html`] }),
    );
    assert.equal(out.status, 'ok');
    assert.equal(out.data, '<html>hello</html>');
  });

  test('reading stops at maxOutputBytes and the data says it was cut', async (t) => {
    let closed = false;
    const base = await serve(t, (_req, res) => {
      res.on('close', () => {
        closed = true;
      });
      // A body far larger than the cap, sent in pieces.
      let sent = 0;
      const push = (): void => {
        while (sent < 50 * 1024 * 1024) {
          sent += 64 * 1024;
          if (!res.write(Buffer.alloc(64 * 1024, 'b'))) {
            res.once('drain', push);
            return;
          }
        }
        res.end();
      };
      push();
    });
    const dataDir = await tempDir(t);
    const out = await httpGet.run(
      makeContext(
        dataDir,
        { method: 'REQHttpGet', methodArgs: [base] },
        { maxOutputBytes: 100_000 },
      ),
    );
    assert.equal(out.status, 'ok');
    assert.equal(out.truncated, true);
    assert.ok(out.data.startsWith('b'.repeat(100_000)));
    assert.equal(out.data.indexOf('b'.repeat(100_001)), -1);
    assert.match(out.data, /output truncated at 100000 bytes/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(closed, true, 'the connection was closed instead of read to the end');
  });

  test('methodTimeout stops a server that never answers', async (t) => {
    const base = await serve(t, () => {
      // never responds
    });
    const dataDir = await tempDir(t);
    const ctx = makeContext(dataDir, {
      method: 'REQHttpGet',
      methodArgs: [base],
      methodTimeout: 1,
    });
    abortAfter(t, ctx, 300, 'timeout');
    const started = Date.now();
    const out = await httpGet.run(ctx);
    assert.equal(out.status, 'timeout');
    assert.match(out.error ?? '', /methodTimeout of 1 s reached/);
    assert.ok(Date.now() - started < 2000);
  });

  test('an answer other than 2xx is an error that keeps the body', async (t) => {
    const base = await serve(t, (_req, res) => {
      res.statusCode = 404;
      res.end('not here');
    });
    const dataDir = await tempDir(t);
    const out = await httpGet.run(
      makeContext(dataDir, { method: 'REQHttpGet', methodArgs: [`${base}/x`] }),
    );
    assert.equal(out.status, 'error');
    assert.equal(out.data, 'not here');
    assert.match(out.error ?? '', /404/);
  });

  test('only http and https URLs are fetched', async (t) => {
    const dataDir = await tempDir(t);
    for (const url of ['file:///etc/passwd', 'ftp://example.invalid/', 'not a url']) {
      const out = await httpGet.run(
        makeContext(dataDir, { method: 'REQHttpGet', methodArgs: [url] }),
      );
      assert.equal(out.status, 'error', url);
      assert.equal(out.code, 'ADMIRAL_BAD_METHOD_ARGS', url);
    }
  });

  test('a refused connection is an error naming the URL', async (t) => {
    // A port that was just free: listen on port 0, note it, close.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const dataDir = await tempDir(t);
    const url = `http://127.0.0.1:${port}/`;
    const out = await httpGet.run(
      makeContext(dataDir, { method: 'REQHttpGet', methodArgs: [url] }),
    );
    assert.equal(out.status, 'error');
    assert.match(out.error ?? '', /ECONNREFUSED/);
    assert.ok(out.error?.includes(url));
  });
});
