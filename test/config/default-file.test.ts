import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeDefaultConfigFile } from '../../src/config/default-file.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { tempDir } from './helpers.js';

test('the default config file is written once, on first start', (t) => {
  const dataDir = join(tempDir(t), 'data');
  const first = writeDefaultConfigFile(dataDir, {});
  assert.equal(first.created, true);
  assert.equal(statSync(first.file).mode & 0o777, 0o600);
  const text = readFileSync(first.file, 'utf8');
  assert.match(text, /^# {3}ackTimeout: 10$/m, 'defaults are shown, commented out');
  writeFileSync(first.file, `${text}# my note\nlogLevel: warn\n`);
  const second = writeDefaultConfigFile(dataDir, {});
  assert.equal(second.created, false);
  assert.equal(readFileSync(first.file, 'utf8'), `${text}# my note\nlogLevel: warn\n`, 'untouched');
  const { config } = loadConfig({
    env: { ADMIRAL_DATA_DIR: dataDir },
    globalConfigDir: join(dataDir, 'no-global'),
  });
  assert.equal(config.logLevel, 'warn');
  assert.equal(config.messages.ackTimeout, 10);
});

test('flags given are persisted and become the next start’s settings', (t) => {
  const dataDir = join(tempDir(t), 'data');
  const r1 = writeDefaultConfigFile(dataDir, {
    nodeName: 'ship1',
    'broker.url': 'nats://10.0.0.1:4222',
    helloInterval: '15',
    dataDir,
  });
  assert.deepEqual(r1.persisted, ['nodeName', 'broker.url', 'helloInterval']);
  writeFileSync(r1.file, `${readFileSync(r1.file, 'utf8')}# keep me\n`);
  const r2 = writeDefaultConfigFile(dataDir, {
    'broker.url': 'nats://10.0.0.2:4222',
    compression: 'gzip',
  });
  assert.equal(r2.created, false);
  const text = readFileSync(r2.file, 'utf8');
  assert.match(text, /# keep me/, "the operator's comments survive");
  assert.doesNotMatch(text, /^dataDir:/m, 'the data dir is not written into itself');
  // Next start: no flags at all.
  const { config, origins } = loadConfig({
    env: { ADMIRAL_DATA_DIR: dataDir },
    globalConfigDir: dataDir,
  });
  assert.equal(config.nodeName, 'ship1');
  assert.equal(config.broker.url, 'nats://10.0.0.2:4222');
  assert.equal(config.helloInterval, 15, 'stored as a number');
  assert.equal(config.compression, 'gzip');
  assert.equal(origins.get('nodeName'), `file ${r2.file}`);
});

test('a bad flag is refused and never written into the file', (t) => {
  const dataDir = join(tempDir(t), 'data');
  writeDefaultConfigFile(dataDir, { nodeName: 'ship1' });
  const before = readFileSync(join(dataDir, 'config.yaml'), 'utf8');
  assert.throws(
    () => writeDefaultConfigFile(dataDir, { helloInterval: 'often' }),
    (e: unknown) => e instanceof ConfigError && e.key === 'helloInterval',
  );
  assert.equal(readFileSync(join(dataDir, 'config.yaml'), 'utf8'), before);
});
