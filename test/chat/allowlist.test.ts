import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkAllowEntry, entryMatches, isAllowed } from '../../src/chat/allowlist.js';

const alice = { nick: 'alice', user: '~alice', host: 'ops.example.org' };

test('a mask matches nick!user@host with * and ?, as IRC compares names', () => {
  assert.ok(entryMatches('alice!*@*', alice));
  assert.ok(entryMatches('ALICE!*@*.example.org', alice));
  assert.ok(entryMatches('al?ce!~alice@ops.example.org', alice));
  assert.ok(entryMatches('x[1]!*@*', { ...alice, nick: 'X{1}' }), 'RFC 2812 case mapping');
  assert.ok(!entryMatches('alice!*@*', { ...alice, nick: 'alice2' }));
  assert.ok(!entryMatches('alice!*@*', { ...alice, nick: 'malice' }));
  assert.ok(!entryMatches('alice!*@*.example.org', { ...alice, host: 'example.org.evil.net' }));
  // Regular expression characters in a mask are literal.
  assert.ok(!entryMatches('alice!*@ops.example.org', { ...alice, host: 'opsXexampleXorg' }));
  assert.ok(!entryMatches('a.*!*@*', alice));
});

test('an account entry matches only the account the server vouches for', () => {
  assert.ok(entryMatches('account:alice', { ...alice, account: 'Alice' }));
  assert.ok(!entryMatches('account:alice', alice), 'no account: no match');
  assert.ok(!entryMatches('account:alice', { ...alice, nick: 'alice', account: 'mallory' }));
});

test('run entries may also read; read entries may not run; nobody is allowed by default', () => {
  const list = { run: ['alice!*@*'], read: ['bob!*@*'] };
  const bob = { nick: 'bob', user: 'b', host: 'h' };
  assert.ok(isAllowed(list, 'run', alice));
  assert.ok(isAllowed(list, 'read', alice));
  assert.ok(isAllowed(list, 'read', bob));
  assert.ok(!isAllowed(list, 'run', bob));
  assert.ok(!isAllowed({ run: [], read: [] }, 'read', alice));
});

test('an entry that is neither a mask nor an account is refused, naming it', () => {
  for (const bad of ['alice', '*', 'alice@host', 'a!b', 'account:', 'a b!c@d']) {
    assert.throws(
      () => checkAllowEntry(bad),
      new RegExp(JSON.stringify(bad).replace(/[[\]*?.]/g, '\\$&')),
      bad,
    );
  }
  checkAllowEntry('*!*@10.0.0.*');
  checkAllowEntry('account:alice');
});
