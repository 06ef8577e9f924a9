import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import { connect, nkeyAuthenticator } from '@nats-io/transport-node';
import { BrokerConfigError } from '../../src/broker/index.js';
import { natsClient, startBroker, waitFor } from './harness.js';

function nkeyUser(): { pub: string; auth: ReturnType<typeof nkeyAuthenticator> } {
  const kp = createUser();
  return { pub: kp.getPublicKey(), auth: nkeyAuthenticator(kp.getSeed()) };
}

describe('nkey users added and removed while the broker runs', () => {
  test('a user added at runtime connects with its permissions; an unknown key is refused', async (t) => {
    const admin = nkeyUser();
    const broker = await startBroker(t, { authorization: { users: [{ nkey: admin.pub }] } });
    const ship = nkeyUser();
    await assert.rejects(
      connect({ servers: broker.url, authenticator: ship.auth, reconnect: false }),
      /authorization violation/i,
    );
    broker.addNkeyUser(ship.pub, { publish: { allow: ['ship.>'] } });
    const nc = await natsClient(broker, { authenticator: ship.auth });
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.error));
    })();
    nc.publish('other.subject', 'x');
    await nc.flush();
    await waitFor(() => errors.length > 0, 'a permissions violation');
    assert.match(errors[0], /Permissions Violation for Publish to "other.subject"/);
  });

  test('removing a user closes its connections and it cannot connect again', async (t) => {
    const admin = nkeyUser();
    const ship = nkeyUser();
    const broker = await startBroker(t, {
      authorization: { users: [{ nkey: admin.pub }, { nkey: ship.pub }] },
    });
    const kept = await natsClient(broker, { authenticator: admin.auth });
    const revoked = await natsClient(broker, { authenticator: ship.auth });
    const closed = revoked.closed();
    assert.equal(await broker.removeUser(ship.pub), 1);
    const err = await closed;
    assert.match(String(err), /authorization violation/i);
    assert.equal(kept.isClosed(), false);
    await kept.flush();
    await assert.rejects(
      connect({ servers: broker.url, authenticator: ship.auth, reconnect: false }),
      /authorization violation/i,
    );
    assert.equal(await broker.removeUser(ship.pub), 0);
  });

  test('a malformed key or permission is a BrokerConfigError', async (t) => {
    const broker = await startBroker(t, {
      authorization: { users: [{ user: 'a', password: 'b' }] },
    });
    assert.throws(() => broker.addNkeyUser('Unot-a-key'), BrokerConfigError);
    assert.throws(
      () => broker.addNkeyUser(nkeyUser().pub, { publish: { allow: [''] } }),
      BrokerConfigError,
    );
  });
});
