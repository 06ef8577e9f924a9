import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { generateIdentity } from '../../src/protocol/index.js';
import { startOperatorNats } from './nats-operator.js';

// The operator-mode helper: three clustered servers with JetStream that trust admiral's operator;
// central's creds log in to each, JetStream answers in the fleet account, and an account update
// pushed to one server reaches a client connected to another.

const auth = (text: string) => credsAuthenticator(new TextEncoder().encode(text));

test('three operator-mode servers with JetStream take central and pass a revocation on to each other', async (t) => {
  const nats = await startOperatorNats(t, { size: 3, jetstream: true });
  if (nats === undefined) return;
  const [first, , third] = nats.cluster.servers;
  const central = await connect({
    servers: first!.url,
    authenticator: credsAuthenticator(new Uint8Array(readFileSync(nats.centralCreds))),
  });
  t.after(() => central.close());
  // A loaded machine may take longer than one request's timeout to elect the meta leader.
  const deadline = Date.now() + 20_000;
  let js: { type?: string } = {};
  while (js.type === undefined && Date.now() < deadline) {
    try {
      const info = await central.request('$JS.API.INFO', '', { timeout: 2000 });
      js = JSON.parse(Buffer.from(info.data).toString('utf8')) as { type?: string };
    } catch {
      // no meta leader yet: ask again
    }
  }
  assert.equal(js.type, 'io.nats.jetstream.api.v1.account_info_response');

  const ship = generateIdentity();
  const shipCreds = nats.operator.userCreds(ship, 'ship1');
  const nc: NatsConnection = await connect({
    servers: third!.url,
    authenticator: auth(shipCreds),
    maxReconnectAttempts: 2,
    reconnectTimeWait: 100,
  });
  t.after(() => nc.close());
  nats.operator.revoke(ship.publicKey);
  const sys = await connect({
    servers: first!.url,
    authenticator: auth(nats.operator.systemCreds()),
  });
  t.after(() => sys.close());
  await nats.operator.push(sys);
  const closed = await Promise.race([
    nc.closed().then(() => true),
    new Promise<boolean>((r) => setTimeout(() => r(false), 10_000).unref()),
  ]);
  assert.equal(closed, true, 'a client on another server stayed connected after the revocation');
});
