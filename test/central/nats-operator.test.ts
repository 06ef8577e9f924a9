import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { NatsJwtAccess } from '../../src/central/nats-jwt-access.js';
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

test('a revocation no server took is refused out loud, then pushed when central starts again', async (t) => {
  const nats = await startOperatorNats(t);
  if (nats === undefined) return;
  const ship = generateIdentity();
  const nc = await connect({
    servers: nats.urls,
    authenticator: creds(nats.operator.userCreds(ship, 'ship1')),
    maxReconnectAttempts: 2,
    reconnectTimeWait: 100,
  });
  t.after(() => nc.close());
  const down = new NatsJwtAccess(nats.operator, () =>
    Promise.reject(new Error('connection refused: tls://nats.example:4222')),
  );
  await assert.rejects(down.revoke(ship.publicKey), /connection refused/);
  assert.equal(await closedWithin(nc, 300), false);

  // The next start (a new process: the account JWT is read back from the folder) pushes it.
  const again = new NatsJwtAccess(NatsOperator.load(nats.operator.dir, subjects), () =>
    nats.system(),
  );
  await again.start(() => undefined);
  t.after(() => again.close());
  assert.equal(await closedWithin(nc, 5000), true, 'the revoked node is still connected');
});

test('two centrals sharing one operator: a revocation by one survives the next revocation and the restart of the other', async (t) => {
  const nats = await startOperatorNats(t);
  if (nats === undefined) return;
  // Central b's copy of the operator folder was made before a revoked anything.
  const bDir = await mkdtemp(join(tmpdir(), 'admiral-operator-b-'));
  t.after(() => rm(bDir, { recursive: true, force: true }));
  await cp(nats.operator.dir, bDir, { recursive: true });
  const a = new NatsJwtAccess(nats.operator, () => nats.system());
  t.after(() => a.close());
  const b = new NatsJwtAccess(NatsOperator.load(bDir, subjects), () => nats.system());
  t.after(() => b.close());
  const [ship1, ship2] = [generateIdentity(), generateIdentity()];
  // Each node's JWT is issued once, before any revocation, as central issues it at enrolment (a
  // revocation covers the JWTs issued up to its time: one minted later would pass).
  const issued = new Map(
    [ship1, ship2].map((who, i) => [who, nats.operator.userCreds(who, `ship${i + 1}`)]),
  );
  const login = (who: typeof ship1, _name: string) =>
    connect({
      servers: nats.urls,
      authenticator: creds(issued.get(who) ?? nats.operator.userCreds(who, _name)),
      reconnect: false,
    });
  await (await login(ship1, 'ship1')).close();

  await a.revoke(ship1.publicKey);
  await assert.rejects(login(ship1, 'ship1'), /authorization|authentication/i);
  // b starts (pushes what it holds) and revokes another node, in the same second as a did.
  await b.start(() => undefined);
  await b.revoke(ship2.publicKey);
  await assert.rejects(login(ship2, 'ship2'), /authorization|authentication/i, 'b revoked ship2');
  await assert.rejects(
    login(ship1, 'ship1'),
    /authorization|authentication/i,
    "b's update took back a's revocation of ship1",
  );
  // And a, revoking after b, keeps b's.
  const ship3 = generateIdentity();
  await a.revoke(ship3.publicKey);
  await assert.rejects(login(ship2, 'ship2'), /authorization|authentication/i, "a took back b's");
});

test("merge takes in another copy's revocations and refuses an account JWT not of this operator", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-operator-merge-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const a = NatsOperator.init(join(dir, 'a'), subjects);
  await cp(join(dir, 'a'), join(dir, 'b'), { recursive: true });
  const b = NatsOperator.load(join(dir, 'b'), subjects);
  const [k1, k2] = [generateIdentity().publicKey, generateIdentity().publicKey];
  b.revoke(k2);
  const fromA = a.revoke(k1);
  assert.equal(b.merge(fromA), true, 'b gains k1');
  assert.equal(b.isRevoked(k1) && b.isRevoked(k2), true);
  assert.equal(b.merge(fromA), false, 'nothing new the second time');
  // Survives a restart: the merged JWT is saved.
  assert.equal(NatsOperator.load(join(dir, 'b'), subjects).isRevoked(k1), true);

  const stranger = NatsOperator.init(join(dir, 'c'), subjects);
  stranger.revoke(generateIdentity().publicKey);
  assert.throws(() => b.merge(stranger.accountJwt), /not this fleet's account/);
  const [head, , sig] = fromA.split('.');
  const forged = Buffer.from(
    JSON.stringify({
      ...JSON.parse(Buffer.from(fromA.split('.')[1]!, 'base64url').toString()),
      nats: {},
    }),
  ).toString('base64url');
  assert.throws(() => b.merge(`${head}.${forged}.${sig}`), /does not verify/);
});
