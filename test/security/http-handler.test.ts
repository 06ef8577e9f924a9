import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type HttpRoute, startHttpServer } from '../../src/http/server.js';

// The HTTP server hosts the node's input, central's API and extensions' routes in the node's own
// process: a route that throws, even synchronously, answers 500 for that request only.

test('a route handler that throws synchronously answers 500 and the server takes the next request', async (t) => {
  const routes: HttpRoute[] = [
    {
      method: 'GET',
      path: '/boom',
      handler: (() => {
        throw new Error('handler broke');
      }) as unknown as HttpRoute['handler'],
    },
    { method: 'GET', path: '/ok', handler: async () => ({ status: 200, body: { ok: true } }) },
  ];
  const server = await startHttpServer('127.0.0.1', 0, routes);
  t.after(() => server.close());
  const boom = await fetch(`${server.url}/boom`);
  assert.equal(boom.status, 500);
  assert.deepEqual(await boom.json(), { error: 'handler broke' });
  const ok = await fetch(`${server.url}/ok`);
  assert.equal(ok.status, 200);
});
