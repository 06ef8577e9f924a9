import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effectiveConfig, renderEffectiveConfig } from '../../src/config/effective.js';
import { loadConfig } from '../../src/config/load.js';
import { isSecretFlag } from '../../src/config/flags.js';
import { isSecretKey, REDACTED, redact, redactArgv } from '../../src/config/redact.js';
import { tempDir } from './helpers.js';

const SEED = `SU${'A'.repeat(56)}`;

test('redact hides tokens, passwords, seeds and URL credentials, keeping file paths', () => {
  const input = {
    broker: {
      url: 'nats://alice:s3cret@h1:4222,nats://tok@h2:4222',
      token: 't0k',
      password: 'pw',
      nkeySeedFile: '/etc/admiral/seed.nk',
      user: 'alice',
    },
    list: [SEED, 'plain'],
    nested: { accessKey: 'k', apiToken: 'x' },
  };
  const out = redact(input);
  assert.equal(out.broker.url, `nats://alice:${REDACTED}@h1:4222,nats://${REDACTED}@h2:4222`);
  assert.equal(out.broker.token, REDACTED);
  assert.equal(out.broker.password, REDACTED);
  assert.equal(out.broker.nkeySeedFile, '/etc/admiral/seed.nk');
  assert.equal(out.broker.user, 'alice');
  assert.deepEqual(out.list, [REDACTED, 'plain']);
  assert.deepEqual(out.nested, { accessKey: REDACTED, apiToken: REDACTED });
  assert.equal(input.broker.token, 't0k', 'the input is not changed');
  assert.equal(isSecretKey('nkeySeedFile'), false);
  assert.equal(isSecretKey('password'), true);
});

test('config show prints no secret and says where each value came from', (t) => {
  const dir = tempDir(t);
  const loaded = loadConfig({
    globalConfigDir: dir,
    env: { ADMIRAL_BROKER__TOKEN: 'sup3rsecret', ADMIRAL_LOG_LEVEL: 'debug' },
    flags: { 'broker.password': 'hunter2', 'broker.url': 'nats://bob:hunter3@h:4222' },
  });
  const shown = renderEffectiveConfig(loaded);
  for (const secret of ['sup3rsecret', 'hunter2', 'hunter3']) assert.ok(!shown.includes(secret));
  assert.match(shown, /logLevel: debug # env ADMIRAL_LOG_LEVEL/);
  assert.match(shown, /password: "\[redacted\]" # flag --password/);
  const eff = effectiveConfig(loaded);
  assert.equal(eff.sources['broker.token'], 'env ADMIRAL_BROKER__TOKEN');
  assert.equal(eff.sources['messages.ackTimeout'], 'default');
  assert.equal(loaded.config.broker.token, 'sup3rsecret', 'the config itself keeps the secret');
});

test('redactArgv hides the values of secret flags and URL passwords, and nothing else', () => {
  // Each argument, and what the process list shows for it.
  const shown: [string, string][] = [
    ['main.js', 'main.js'],
    ['node', 'node'],
    ['start', 'start'],
    ['--name', '--name'],
    ['ship1', 'ship1'],
    ['--password', '--password'],
    ['pw-1', '***'],
    ['--token=tok-2', '--token=***'],
    ['--join', '--join'],
    ['join-3', '***'],
    ['--access-key', '--access-key'],
    ['key-4', '***'],
    ['--broker', '--broker'],
    ['nats://ops:pw-5@h:4222,nats://tok-6@h2:4222', 'nats://ops:***@h:4222,nats://***@h2:4222'],
    ['--nkey-seed-file', '--nkey-seed-file'],
    ['/etc/admiral/seed', '/etc/admiral/seed'],
    ['--client-key', '--client-key'],
    ['/etc/admiral/client.key', '/etc/admiral/client.key'],
  ];
  assert.deepEqual(
    redactArgv(
      shown.map(([arg]) => arg),
      isSecretFlag,
    ),
    shown.map(([, seen]) => seen),
  );
  assert.deepEqual(redactArgv(['up', '--data-dir', 'd'], isSecretFlag), ['up', '--data-dir', 'd']);
});
