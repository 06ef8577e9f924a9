import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BrokerConfigError,
  BrokerError,
  BrokerListenError,
  InsecureListenError,
} from '../../src/broker/index.js';

const cases: [BrokerError, string, string][] = [
  [new BrokerConfigError('bad', 'port'), 'BrokerConfigError', 'ADMIRAL_BROKER_CONFIG'],
  [new InsecureListenError('0.0.0.0'), 'InsecureListenError', 'ADMIRAL_BROKER_INSECURE_LISTEN'],
  [
    new BrokerListenError('127.0.0.1', 1, new Error('EADDRINUSE')),
    'BrokerListenError',
    'ADMIRAL_BROKER_LISTEN',
  ],
];

for (const [err, name, code] of cases) {
  test(`${name} has a stable code and a name equal to its class`, () => {
    assert.ok(err instanceof BrokerError);
    assert.ok(err instanceof Error);
    assert.equal(err.name, name);
    assert.equal(err.code, code);
  });
}

test('a port already in use is a BrokerListenError that keeps the cause', async (t) => {
  const { Broker } = await import('../../src/broker/index.js');
  const first = await Broker.start({ port: 0 });
  t.after(() => first.close());
  await assert.rejects(Broker.start({ port: first.port }), (err: unknown) => {
    assert.ok(err instanceof BrokerListenError);
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${first.port}`));
    assert.ok(err.cause instanceof Error);
    return true;
  });
});
