import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EnrolmentStore } from '../../src/central/enrolment-store.js';

test('join tokens are valid until they expire or are revoked, and only their hash is stored', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-enrol-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let now = 1_000_000;
  const file = join(dir, 'enrolment.json');
  const store = new EnrolmentStore(file, () => now);
  const { token, view } = store.createToken(60_000, 'rack 4');
  assert.deepEqual(store.checkToken(token), { ok: true, id: view.id });
  assert.equal(readFileSync(file, 'utf8').includes(token.split('.')[1]), false);
  assert.equal(store.checkToken(`${view.id}.wrong`).ok, false);

  now += 60_000;
  const expired = store.checkToken(token);
  assert.equal(expired.ok, false);
  assert.match(expired.ok ? '' : expired.reason, /expired/);

  const second = store.createToken(60_000);
  assert.ok(store.revokeToken(second.view.id));
  const revoked = store.checkToken(second.token);
  assert.match(revoked.ok ? '' : revoked.reason, /revoked/);
  assert.deepEqual(
    new EnrolmentStore(file, () => now).listTokens().map((x) => x.state),
    ['expired', 'revoked'],
  );
});

test('a node record keeps its key and state across restarts of the central', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-enrol-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'enrolment.json');
  const store = new EnrolmentStore(file);
  store.set('ship1', 'UKEY1', 'pending', { reason: 'no join token given' });
  store.set('ship1', 'UKEY1', 'accepted', { via: 'operator' });
  const reread = new EnrolmentStore(file);
  assert.equal(reread.node('ship1')?.state, 'accepted');
  assert.equal(reread.node('ship1')?.reason, undefined);
  assert.deepEqual(
    reread.nodes('accepted').map((n) => n.name),
    ['ship1'],
  );
});
