import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startFleet } from '../helpers/fleet.js';

// The dashboard on a real `admiral up`: the page logs in with the API token once and keeps a
// session cookie; nothing but the login page is served without that session; state-changing
// requests need the session's CSRF token; no CORS. docs/dashboard.md, "Security".

interface Up {
  url: string;
  token: string;
}

async function up(t: import('node:test').TestContext): Promise<Up> {
  const fleet = await startFleet(t, { nodes: [] });
  const url = /dashboard:\s+(http:\/\/\S+)\//.exec(fleet.central.output())?.[1];
  assert.ok(url, `admiral up printed no http URL:\n${fleet.central.output()}`);
  const token = (await readFile(join(fleet.central.dataDir, 'api-token'), 'utf8')).trim();
  return { url, token };
}

async function login(u: Up): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await fetch(`${u.url}/ui/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: u.token }),
  });
  assert.equal(res.status, 200);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const cookie = setCookie.split(';')[0] ?? '';
  const { csrf } = (await res.json()) as { csrf: string };
  return { cookie, csrf, setCookie };
}

test('the dashboard page is served at / with a policy that runs only its own script', async (t) => {
  const u = await up(t);
  const res = await fetch(`${u.url}/`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(await res.text(), /<script type="module" src="\/app.js">/);
  assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  assert.equal(res.headers.get('x-frame-options'), 'DENY');
  const js = await fetch(`${u.url}/app.js`);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
  // Only the built files: a path that tries to climb out is simply not a route.
  assert.equal((await fetch(`${u.url}/..%2f..%2fapi-token`)).status, 404);
  assert.equal((await fetch(`${u.url}/app.js/../../api-token`)).status, 404);
});

test('without a session the dashboard API and its event stream answer 401 and no data', async (t) => {
  const u = await up(t);
  const session = await fetch(`${u.url}/ui/session`);
  assert.deepEqual(await session.json(), { loggedIn: false });
  for (const path of [
    '/ui/api/jobs',
    '/ui/api/nodes/central',
    '/ui/api/registry',
    '/ui/api/health',
    '/ui/events',
  ]) {
    const res = await fetch(`${u.url}${path}`);
    assert.equal(res.status, 401, path);
    const body = await res.text();
    assert.doesNotMatch(body, /central"|facts|publicKey/, path);
    assert.match(body, /not logged in/, path);
  }
  const forged = await fetch(`${u.url}/ui/api/jobs`, {
    headers: { cookie: 'admiral_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
  });
  assert.equal(forged.status, 401);
});

test('a wrong or missing token is refused at login and sets no cookie', async (t) => {
  const u = await up(t);
  for (const body of [{ token: 'wrong-token-wrong-token' }, {}, { token: `${u.token}x` }]) {
    const res = await fetch(`${u.url}/ui/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 401, JSON.stringify(body));
    assert.equal(res.headers.get('set-cookie'), null);
    assert.match(await res.text(), /wrong token/);
  }
  // A form post (what a cross-site page can send without asking) is not a login.
  const form = await fetch(`${u.url}/ui/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `token=${u.token}`,
  });
  assert.equal(form.status, 400);
  assert.equal(form.headers.get('set-cookie'), null);
});

test('the right token gives an HttpOnly, SameSite=Strict session cookie that reads the data', async (t) => {
  const u = await up(t);
  const s = await login(u);
  assert.match(s.setCookie, /^admiral_session=[A-Za-z0-9_-]{40,};/);
  assert.match(s.setCookie, /; HttpOnly/);
  assert.match(s.setCookie, /; SameSite=Strict/);
  assert.match(s.setCookie, /; Path=\//);
  // Plain HTTP on loopback: no Secure flag, or the browser would never send it back.
  assert.doesNotMatch(s.setCookie, /Secure/);
  assert.ok(s.csrf.length >= 24);
  const session = await fetch(`${u.url}/ui/session`, { headers: { cookie: s.cookie } });
  assert.equal(session.status, 200);
  assert.deepEqual(await session.json(), { loggedIn: true, csrf: s.csrf });
  // Central enters its own inventory with its first hello.
  let node = await fetch(`${u.url}/ui/api/nodes/central`, { headers: { cookie: s.cookie } });
  for (let i = 0; i < 50 && node.status === 404; i++) {
    await new Promise((r) => setTimeout(r, 100));
    node = await fetch(`${u.url}/ui/api/nodes/central`, { headers: { cookie: s.cookie } });
  }
  assert.equal(node.status, 200);
  assert.equal(((await node.json()) as { node: string }).node, 'central');
  assert.equal(node.headers.get('cache-control'), 'no-store');
});

test('a state-changing request with the session cookie but without its CSRF token is refused', async (t) => {
  const u = await up(t);
  const s = await login(u);
  const job = { args: ['true'], nodes: ['central'] };
  for (const csrf of [undefined, 'not-the-token', `${s.csrf}x`]) {
    const res = await fetch(`${u.url}/ui/api/jobs`, {
      method: 'POST',
      headers: {
        cookie: s.cookie,
        'content-type': 'application/json',
        ...(csrf !== undefined && { 'x-admiral-csrf': csrf }),
      },
      body: JSON.stringify(job),
    });
    assert.equal(res.status, 403, String(csrf));
    assert.match(await res.text(), /x-admiral-csrf/);
  }
  const listed = await fetch(`${u.url}/ui/api/jobs`, { headers: { cookie: s.cookie } });
  assert.deepEqual(await listed.json(), [], 'no job was started');
  const cancel = await fetch(`${u.url}/ui/api/jobs/01JZZZZZZZZZZZZZZZZZZZZZZZ`, {
    method: 'DELETE',
    headers: { cookie: s.cookie },
  });
  assert.equal(cancel.status, 403);
  const ok = await fetch(`${u.url}/ui/api/jobs`, {
    method: 'POST',
    headers: { cookie: s.cookie, 'content-type': 'application/json', 'x-admiral-csrf': s.csrf },
    body: JSON.stringify(job),
  });
  assert.equal(ok.status, 201);
});

test('no CORS: a cross-origin request gets no Access-Control-Allow-Origin, a preflight no approval', async (t) => {
  const u = await up(t);
  const s = await login(u);
  const res = await fetch(`${u.url}/ui/api/jobs`, {
    headers: { cookie: s.cookie, origin: 'https://evil.example' },
  });
  assert.equal(res.headers.get('access-control-allow-origin'), null);
  assert.equal(res.headers.get('access-control-allow-credentials'), null);
  const pre = await fetch(`${u.url}/ui/api/jobs`, {
    method: 'OPTIONS',
    headers: {
      origin: 'https://evil.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'x-admiral-csrf, content-type',
    },
  });
  assert.notEqual(pre.status, 204);
  assert.ok(pre.status >= 400);
  assert.equal(pre.headers.get('access-control-allow-origin'), null);
  assert.equal(pre.headers.get('access-control-allow-headers'), null);
});

test('logging out ends the session and its event stream: the same cookie reads nothing afterwards', async (t) => {
  const u = await up(t);
  const s = await login(u);
  const stream = await fetch(`${u.url}/ui/events`, { headers: { cookie: s.cookie } });
  assert.equal(stream.status, 200);
  const streamed = stream.text();
  const out = await fetch(`${u.url}/ui/logout`, {
    method: 'POST',
    headers: { cookie: s.cookie, 'x-admiral-csrf': s.csrf },
  });
  assert.equal(out.status, 200);
  assert.match(out.headers.get('set-cookie') ?? '', /admiral_session=; Max-Age=0/);
  const after = await fetch(`${u.url}/ui/api/jobs`, { headers: { cookie: s.cookie } });
  assert.equal(after.status, 401);
  // The page's open event stream is told, and ends.
  assert.match(await streamed, /event: logout\n/);
});

test('a state-changing request from another origin is refused even with the session and its CSRF token', async (t) => {
  const u = await up(t);
  const s = await login(u);
  const evil = { origin: 'http://evil.example:4280' };
  const loginFromEvil = await fetch(`${u.url}/ui/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...evil },
    body: JSON.stringify({ token: u.token }),
  });
  assert.equal(loginFromEvil.status, 403);
  assert.equal(loginFromEvil.headers.get('set-cookie'), null);
  const refusal = (await loginFromEvil.json()) as { error: string; code: string };
  assert.match(refusal.error, /origin "http:\/\/evil.example:4280"/);
  assert.equal(refusal.code, 'ADMIRAL_DASHBOARD_ORIGIN');
  const job = await fetch(`${u.url}/ui/api/jobs`, {
    method: 'POST',
    headers: {
      cookie: s.cookie,
      'x-admiral-csrf': s.csrf,
      'content-type': 'application/json',
      ...evil,
    },
    body: JSON.stringify({ args: ['true'], nodes: ['central'] }),
  });
  assert.equal(job.status, 403);
  // The page's own origin is taken.
  const own = await fetch(`${u.url}/ui/api/jobs`, {
    method: 'POST',
    headers: {
      cookie: s.cookie,
      'x-admiral-csrf': s.csrf,
      'content-type': 'application/json',
      origin: u.url,
    },
    body: JSON.stringify({ args: ['true'], nodes: ['central'] }),
  });
  assert.equal(own.status, 201);
});
