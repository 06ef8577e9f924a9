import assert from 'node:assert/strict';
import http from 'node:http';
import { type TestContext, test } from 'node:test';
import WebSocket from 'ws';
import { Broker } from '../../src/broker/index.js';

// A web page the operator opens can make the browser talk to the loopback broker: it can load a
// <script> from the monitoring endpoint (JSONP), reach it by a DNS name that rebinds to 127.0.0.1,
// or open a WebSocket to it. None of these may let another origin read what the broker knows
// about its clients or talk NATS to it when an origin check is configured.

async function broker(
  t: TestContext,
  options: Parameters<typeof Broker.start>[0],
): Promise<Broker> {
  const b = await Broker.start({ host: '127.0.0.1', port: 0, ...options });
  t.after(() => b.close());
  return b;
}

/** GET with an explicit Host header (fetch does not allow setting it). */
function get(url: string, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.get(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        headers: host ? { host } : {},
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
  });
}

test('a web page cannot read the monitoring data through a JSONP callback', async (t) => {
  const b = await broker(t, { httpPort: 0 });
  const res = await get(`${b.monitorUrl}/connz?callback=steal`);
  assert.equal(res.status, 400);
  assert.ok(!res.body.includes('steal('), res.body);
  assert.ok(!res.body.includes('server_id'), res.body);
});

test('a loopback monitoring endpoint refuses a request for another host name (DNS rebinding)', async (t) => {
  const b = await broker(t, { httpPort: 0 });
  const port = new URL(b.monitorUrl!).port;
  const evil = await get(`${b.monitorUrl}/varz`, `rebind.attacker.example:${port}`);
  assert.equal(evil.status, 403);
  assert.ok(!evil.body.includes('server_id'), evil.body);
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost']) {
    const ok = await get(`${b.monitorUrl}/varz`, host);
    assert.equal(ok.status, 200, `Host: ${host}`);
  }
});

/** Opens a WebSocket with an Origin header; resolves with the first frame or the failure. */
function wsOpen(port: number, origin: string | undefined): Promise<string> {
  return new Promise((resolve) => {
    const sock = new WebSocket(`ws://127.0.0.1:${port}`, origin ? { origin } : {});
    sock.once('message', (d: Buffer) => {
      sock.terminate();
      resolve(d.toString('latin1').slice(0, 4));
    });
    sock.once('unexpected-response', (_req, res) => {
      sock.terminate();
      resolve(`HTTP ${res.statusCode}`);
    });
    sock.once('error', (err) => resolve(`error ${err.message}`));
  });
}

test('a WebSocket listener with allowed_origins refuses the upgrade from any other origin', async (t) => {
  const b = await broker(t, {
    websocket: { port: 0, noTls: true, allowedOrigins: ['https://console.example'] },
  });
  assert.equal(await wsOpen(b.wsPort!, 'https://evil.example'), 'HTTP 403');
  assert.equal(await wsOpen(b.wsPort!, 'https://console.example'), 'INFO');
  // Not a browser: no Origin header, nothing to check (websocket.go checkOrigin).
  assert.equal(await wsOpen(b.wsPort!, undefined), 'INFO');
});

test('a WebSocket listener with same_origin refuses an origin other than its own host', async (t) => {
  const b = await broker(t, { websocket: { port: 0, noTls: true, sameOrigin: true } });
  assert.equal(await wsOpen(b.wsPort!, 'http://evil.example'), 'HTTP 403');
  assert.equal(await wsOpen(b.wsPort!, `http://127.0.0.1:${b.wsPort}`), 'INFO');
});
