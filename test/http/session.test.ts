import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HttpRequest } from '../../src/http/server.js';
import { cookieValue, hasCsrf, sessionCookie, Sessions } from '../../src/http/session.js';

const req = (cookie?: string, csrf?: string): HttpRequest => ({
  method: 'GET',
  path: '/',
  query: new URLSearchParams(),
  headers: {
    ...(cookie !== undefined && { cookie }),
    ...(csrf !== undefined && { 'x-admiral-csrf': csrf }),
  },
  remoteAddress: '127.0.0.1',
  secure: false,
  body: async () => Buffer.alloc(0),
});

test('a session unused for longer than its idle time ends', () => {
  let now = 0;
  const s = new Sessions({ idleMs: 1000, now: () => now });
  const { id } = s.create();
  now = 900;
  assert.ok(s.lookup(req(`admiral_session=${id}`)), 'used within the idle time');
  now = 1800;
  assert.ok(s.lookup(req(`a=b; admiral_session=${id}`)), 'the last use counts, not the start');
  now = 2801;
  assert.equal(s.lookup(req(`admiral_session=${id}`)), undefined);
});

test('past the most sessions kept, the least recently used one goes first', () => {
  const s = new Sessions({ max: 2 });
  const a = s.create().id;
  const b = s.create().id;
  assert.ok(s.lookup(req(`admiral_session=${a}`)));
  s.create();
  assert.equal(s.size, 2);
  assert.ok(s.lookup(req(`admiral_session=${a}`)), 'a was used after b');
  assert.equal(s.lookup(req(`admiral_session=${b}`)), undefined);
});

test('the CSRF check takes only the session’s own token, from the header', () => {
  const s = new Sessions();
  const { session } = s.create();
  const other = s.create().session;
  assert.equal(hasCsrf(req(undefined, session.csrf), session), true);
  assert.equal(hasCsrf(req(undefined, other.csrf), session), false);
  assert.equal(hasCsrf(req(undefined, ''), session), false);
  assert.equal(hasCsrf(req(), session), false);
});

test('the session cookie is HttpOnly and SameSite=Strict, and Secure only under TLS', () => {
  assert.equal(
    sessionCookie('abc', false),
    'admiral_session=abc; Path=/; HttpOnly; SameSite=Strict',
  );
  assert.equal(
    sessionCookie('abc', true),
    'admiral_session=abc; Path=/; HttpOnly; SameSite=Strict; Secure',
  );
  assert.match(sessionCookie(undefined, false), /^admiral_session=; Max-Age=0;/);
  assert.equal(cookieValue('x=1; admiral_session=v2 ; y=3', 'admiral_session'), 'v2');
  assert.equal(cookieValue('xadmiral_session=v', 'admiral_session'), undefined);
});

test('an open stream keeps its session alive, and learns when it was ended', () => {
  let now = 0;
  const s = new Sessions({ idleMs: 1000, now: () => now });
  const { id, session } = s.create();
  now = 900;
  assert.equal(s.touch(session), true);
  now = 1800;
  assert.ok(s.lookup(req(`admiral_session=${id}`)), 'touched at 900: alive at 1800');
  s.end(req(`admiral_session=${id}`));
  assert.equal(s.touch(session), false);
});
