import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveEnvName } from '../../src/config/env.js';
import { ConfigError } from '../../src/config/errors.js';
import { flagsFromOptions } from '../../src/config/flags.js';
import { loadConfig } from '../../src/config/load.js';
import { tempDir, writeFile } from './helpers.js';

test('with no layers every key has its default', (t) => {
  const dir = tempDir(t);
  const { config, files, origins } = loadConfig({ env: {}, globalConfigDir: dir });
  assert.equal(config.dataDir, './admiral-data');
  assert.equal(config.centralNode, 'central');
  assert.equal(config.subjectPrefix, 'adm');
  assert.equal(config.messages.ackTimeout, 10);
  assert.equal(config.messages.retries, 1);
  assert.equal(config.helloInterval, 30);
  assert.equal(config.limits.maxOutputBytes, 10 * 1024 * 1024);
  assert.equal(config.inputs.socket, true);
  assert.equal(config.compression, 'none');
  assert.equal(config.nodeName, undefined);
  assert.deepEqual(files, []);
  assert.equal(origins.size, 0);
});

test('each layer overrides the one before: global < --config < env < flags', (t) => {
  const dir = tempDir(t);
  writeFile(
    dir,
    'config.yaml',
    'nodeName: from-global\nhelloInterval: 1\nlogLevel: warn\nmessages:\n  ackTimeout: 1\n  retries: 7\n',
  );
  const cfg = writeFile(
    dir,
    'node.json',
    JSON.stringify({ helloInterval: 2, logLevel: 'error', messages: { ackTimeout: 2 } }),
  );
  const { config, files, origins } = loadConfig({
    globalConfigDir: dir,
    configFile: cfg,
    env: { ADMIRAL_LOG_LEVEL: 'debug', ADMIRAL_MESSAGES__ACK_TIMEOUT: '3' },
    flags: { 'messages.ackTimeout': 4 },
  });
  assert.equal(config.nodeName, 'from-global', 'only the global file sets it');
  assert.equal(config.messages.retries, 7, 'nested keys merge key by key');
  assert.equal(config.helloInterval, 2, '--config beats global');
  assert.equal(config.logLevel, 'debug', 'env beats --config');
  assert.equal(config.messages.ackTimeout, 4, 'flags beat env');
  assert.deepEqual(files, [join(dir, 'config.yaml'), cfg]);
  assert.equal(origins.get('logLevel'), 'env ADMIRAL_LOG_LEVEL');
  assert.equal(origins.get('nodeName'), `file ${join(dir, 'config.yaml')}`);
});

test('ADMIRAL_GLOBAL_CONFIG names the global file', (t) => {
  const dir = tempDir(t);
  const g = writeFile(dir, 'elsewhere.yml', 'centralNode: hq\n');
  const { config } = loadConfig({ env: { ADMIRAL_GLOBAL_CONFIG: g }, globalConfigDir: dir });
  assert.equal(config.centralNode, 'hq');
  assert.throws(
    () => loadConfig({ env: { ADMIRAL_GLOBAL_CONFIG: join(dir, 'missing.yaml') } }),
    (e: unknown) => e instanceof ConfigError && e.layer === 'env ADMIRAL_GLOBAL_CONFIG',
  );
});

test("without --config the node's own <dataDir>/config.yaml is read", (t) => {
  const dir = tempDir(t);
  const dataDir = join(dir, 'data');
  const globalDir = join(dir, 'etc');
  mkdirSync(dataDir);
  writeFile(dataDir, 'config.yaml', 'nodeName: ship7\n');
  const { config, files } = loadConfig({
    env: { ADMIRAL_DATA_DIR: dataDir },
    globalConfigDir: globalDir,
  });
  assert.equal(config.nodeName, 'ship7');
  assert.deepEqual(files, [join(dataDir, 'config.yaml')]);
});

test('environment variables nest with __ and, where unambiguous, with a single _', () => {
  assert.deepEqual(resolveEnvName('ADMIRAL_BROKER_URL'), ['broker', 'url']);
  assert.deepEqual(resolveEnvName('ADMIRAL_BROKER__URL'), ['broker', 'url']);
  assert.deepEqual(resolveEnvName('ADMIRAL_DATA_DIR'), ['dataDir']);
  assert.deepEqual(resolveEnvName('ADMIRAL_NODE_NAME'), ['nodeName']);
  assert.deepEqual(resolveEnvName('ADMIRAL_LIMITS__MAX_OUTPUT_BYTES'), [
    'limits',
    'maxOutputBytes',
  ]);
  assert.deepEqual(resolveEnvName('ADMIRAL_BROKER_RECONNECT_JITTER_TLS_MS'), [
    'broker',
    'reconnectJitterTlsMs',
  ]);
  assert.equal(resolveEnvName('ADMIRAL_LIMITS__MAX_OUTPUT'), undefined);
  assert.equal(resolveEnvName('ADMIRAL_NOPE'), undefined);
});

test('environment values are converted to the type the key expects', (t) => {
  const dir = tempDir(t);
  const { config } = loadConfig({
    globalConfigDir: dir,
    env: {
      ADMIRAL_BROKER_URL: 'nats://10.0.0.1:4222',
      ADMIRAL_NODE_NAME: 'ship1',
      ADMIRAL_LIMITS__MAX_OUTPUT_BYTES: '2048',
      ADMIRAL_IS_CENTRAL: 'true',
      ADMIRAL_INPUTS__SOCKET: 'false',
      ADMIRAL_PATHS__READ_ALLOW: '/var/log, /etc/hosts',
      ADMIRAL_TRUST__KEYS: '["k1","k2"]',
    },
  });
  assert.equal(config.broker.url, 'nats://10.0.0.1:4222');
  assert.equal(config.nodeName, 'ship1');
  assert.equal(config.limits.maxOutputBytes, 2048);
  assert.equal(config.isCentral, true);
  assert.equal(config.inputs.socket, false);
  assert.deepEqual(config.paths.readAllow, ['/var/log', '/etc/hosts']);
  assert.deepEqual(config.trust.keys, ['k1', 'k2']);
});

test('an ADMIRAL_* variable that names no key is a warning, or an error with strictEnv', (t) => {
  const dir = tempDir(t);
  const env = { ADMIRAL_BROKR_URL: 'x', ADMIRAL_TEST_CONCURRENCY: '2' };
  const { warnings } = loadConfig({ env, globalConfigDir: dir });
  assert.deepEqual(warnings, ['ignored ADMIRAL_BROKR_URL: it names no configuration key']);
  assert.throws(
    () => loadConfig({ env, globalConfigDir: dir, strictEnv: true }),
    (e: unknown) => e instanceof ConfigError && e.layer === 'env ADMIRAL_BROKR_URL',
  );
});

test('an unknown key in a file is rejected, naming the key and the file', (t) => {
  const dir = tempDir(t);
  const file = writeFile(dir, 'c.yaml', 'broker:\n  urll: nats://x:4222\n');
  assert.throws(
    () => loadConfig({ env: {}, globalConfigDir: dir, configFile: file }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.code === 'ADMIRAL_CONFIG' &&
      e.name === 'ConfigError' &&
      e.key === 'broker.urll' &&
      e.layer === `file ${file}` &&
      e.message.includes('did you mean `broker.url`?') &&
      e.message.includes(file),
  );
  const top = writeFile(dir, 'top.json', '{"nodename":"x"}');
  assert.throws(
    () => loadConfig({ env: {}, globalConfigDir: dir, configFile: top }),
    (e: unknown) => e instanceof ConfigError && e.key === 'nodename' && e.layer === `file ${top}`,
  );
});

test('a value of the wrong type names the key, the layer, what was expected and what came', (t) => {
  const dir = tempDir(t);
  assert.throws(
    () => loadConfig({ env: { ADMIRAL_MESSAGES__ACK_TIMEOUT: 'ten' }, globalConfigDir: dir }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.key === 'messages.ackTimeout' &&
      e.layer === 'env ADMIRAL_MESSAGES__ACK_TIMEOUT' &&
      e.expected === 'a number' &&
      e.received === '`"ten"` (string)' &&
      e.message ===
        'Expected `messages.ackTimeout` to be a number, got `"ten"` (string) (from env ADMIRAL_MESSAGES__ACK_TIMEOUT)',
  );
  assert.throws(
    () => loadConfig({ env: {}, globalConfigDir: dir, flags: { compression: 'lz4' } }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.layer === 'flag --compression' &&
      e.expected === 'one of "none", "gzip", "zstd"',
  );
  assert.throws(
    () =>
      loadConfig({ env: {}, globalConfigDir: dir, flags: { 'inputs.httpListen': 'localhost' } }),
    (e: unknown) =>
      e instanceof ConfigError && e.layer === 'flag --http-listen' && /host:port/.test(e.expected),
  );
  assert.throws(
    () => loadConfig({ env: {}, globalConfigDir: dir, flags: { 'broker.password': 42 } }),
    (e: unknown) => e instanceof ConfigError && !e.message.includes('42'),
    'a bad secret is not echoed',
  );
});

test('every problem is reported at once', (t) => {
  const dir = tempDir(t);
  const file = writeFile(dir, 'c.yaml', 'logLevel: loud\nhelloInterval: -1\nbogus: 1\n');
  assert.throws(
    () => loadConfig({ env: {}, globalConfigDir: dir, configFile: file }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.issues
        .map((i) => i.key)
        .sort()
        .join(',') === 'bogus,helloInterval,logLevel',
  );
});

test('a file that is not valid YAML or JSON, or missing, is named in the error', (t) => {
  const dir = tempDir(t);
  const bad = writeFile(dir, 'bad.json', '{"nodeName": ');
  assert.throws(
    () => loadConfig({ env: {}, globalConfigDir: dir, configFile: bad }),
    (e: unknown) =>
      e instanceof ConfigError && e.layer === `file ${bad}` && /syntax error/.test(e.received),
  );
  const list = writeFile(dir, 'list.yaml', '- a\n- b\n');
  assert.throws(
    () => loadConfig({ env: {}, globalConfigDir: dir, configFile: list }),
    (e: unknown) => e instanceof ConfigError && e.expected === 'a mapping of keys to values',
  );
  assert.throws(
    () => loadConfig({ env: {}, globalConfigDir: dir, configFile: join(dir, 'nope.yaml') }),
    (e: unknown) => e instanceof ConfigError && e.received === 'no such file',
  );
  const proto = writeFile(dir, 'proto.json', '{"__proto__": {"isCentral": true}}');
  assert.throws(
    () => loadConfig({ env: {}, globalConfigDir: dir, configFile: proto }),
    (e: unknown) => e instanceof ConfigError && e.key === '__proto__',
  );
});

test('two global files at once is an error rather than a silent choice', (t) => {
  const dir = tempDir(t);
  writeFile(dir, 'config.json', '{}');
  writeFile(dir, 'config.yaml', '{}');
  assert.throws(() => loadConfig({ env: {}, globalConfigDir: dir }), ConfigError);
});

test('the result is deeply frozen', (t) => {
  const dir = tempDir(t);
  const { config } = loadConfig({ env: {}, globalConfigDir: dir });
  assert.ok(Object.isFrozen(config));
  assert.ok(Object.isFrozen(config.broker));
  assert.ok(Object.isFrozen(config.paths.readAllow));
  assert.throws(() => {
    (config.broker as { url: string }).url = 'x';
  }, TypeError);
});

test("flags are read from commander's options by their attribute names", () => {
  assert.deepEqual(
    flagsFromOptions({
      broker: 'nats://h:1',
      dataDir: './d',
      nkeySeedFile: '/k',
      other: 1,
      name: 'n',
    }),
    { nodeName: 'n', dataDir: './d', 'broker.url': 'nats://h:1', 'broker.nkeySeedFile': '/k' },
  );
});
