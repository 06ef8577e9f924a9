import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { NatsOperator } from '../../src/central/nats-operator.js';
import { nodeInboxPrefix, nodePermissions } from '../../src/protocol/enrolment.js';
import { generateIdentity, Subjects } from '../../src/protocol/index.js';
import { startOperatorNats } from '../helpers/nats-operator.js';

// nats-server 2.9.10 in operator mode as `admiral nats init` sets it up: a user JWT signed by
// the account signing key logs in with the permissions of an enrolled node, and a revocation
// pushed on $SYS.REQ.CLAIMS.UPDATE disconnects it and keeps it out, with no reload.

const subjects = new Subjects('adm');
const creds = (text: string) => credsAuthenticator(new TextEncoder().encode(text));

async function closedWithin(nc: NatsConnection, ms: number): Promise<boolean> {
  const closed = nc.closed().then(() => true);
  const timer = new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref());
  return Promise.race([closed, timer]);
}

test('a node JWT revoked and pushed is disconnected from nats-server and cannot log in again', async (t) => {
  const nats = await startOperatorNats(t);
  if (nats === undefined) return;
  const ship = generateIdentity();
  const shipCreds = nats.operator.userCreds(
    ship,
    'ship1',
    nodePermissions(subjects, 'ship1', 'central'),
  );
  const nc = await connect({
    servers: nats.urls,
    authenticator: creds(shipCreds),
    inboxPrefix: nodeInboxPrefix('ship1'),
    reconnect: true,
    maxReconnectAttempts: 3,
    reconnectTimeWait: 100,
  });
  t.after(() => nc.close());
  await nc.flush();

  nats.operator.revoke(ship.publicKey);
  await nats.operator.push(await nats.system());
  assert.equal(await closedWithin(nc, 5000), true, 'the revoked node is still connected');

  await assert.rejects(
    connect({ servers: nats.urls, authenticator: creds(shipCreds), reconnect: false }),
    /authorization|authentication/i,
  );
  // The revocation stays in the account JWT central keeps, for the next server that starts.
  assert.equal(nats.operator.isRevoked(ship.publicKey), true);
});

test('a node JWT carries the enrolled node permissions: nats-server refuses another node subject', async (t) => {
  const nats = await startOperatorNats(t);
  if (nats === undefined) return;
  const ship = generateIdentity();
  const nc = await connect({
    servers: nats.urls,
    authenticator: creds(
      nats.operator.userCreds(ship, 'ship1', nodePermissions(subjects, 'ship1', 'central')),
    ),
    inboxPrefix: nodeInboxPrefix('ship1'),
  });
  t.after(() => nc.close());
  const errors: Error[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(s.error);
  })();
  nc.publish('adm.node.ship2.REQCliCommand', 'x');
  nc.subscribe('adm.node.ship2.>');
  await nc.flush();
  const deadline = Date.now() + 3000;
  while (errors.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const text = errors.map((e) => e.message).join('\n');
  assert.match(text, /Permissions Violation for Publish to "adm\.node\.ship2\.REQCliCommand"/i);
  assert.match(text, /Permissions Violation for Subscription to "adm\.node\.ship2\.>"/i);
});

test('init refuses to make a second operator over the first', async (t) => {
  const nats = await startOperatorNats(t);
  if (nats === undefined) return;
  assert.throws(() => NatsOperator.init(nats.operator.dir, subjects), /already holds an operator/);
});
