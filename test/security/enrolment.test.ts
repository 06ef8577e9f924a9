import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Broker } from '../../src/broker/index.js';
import {
  type EnrolAdminReply,
  EnrolmentExtension,
  type EnrolmentOptions,
  embeddedBrokerAccess,
} from '../../src/central/enrolment.js';
import { EnrolmentStore } from '../../src/central/enrolment-store.js';
import { loadConfig } from '../../src/config/load.js';
import { nodeOptionsFromConfig } from '../../src/node/from-config.js';
import { AdmiralNode } from '../../src/node/node.js';
import { silentLogger } from '../../src/observability/logger.js';
import {
  ENROL_ADMIN_SERVICE,
  ENROL_SERVICE,
  type EnrolReply,
} from '../../src/protocol/enrolment.js';
import { generateIdentity, type Identity, Subjects } from '../../src/protocol/index.js';
import { signRequest } from '../../src/protocol/signed-request.js';

// The unauthenticated enrolment path (anyone may ask, as the public `enrol` user): its requests
// are rate-limited, its pending entries capped and expiring, and a valid join token beats a
// token-less claim on the same name. A real central node with the enrolment extension on an
// embedded broker; requests are signed and sent over NATS as a joining node sends them.

type Limits = Partial<Omit<EnrolmentOptions, 'store' | 'broker'>>;

interface Central {
  store: EnrolmentStore;
  enrolment: EnrolmentExtension;
  ask(name: string, identity?: Identity, token?: string): Promise<EnrolReply>;
  /** What `admiral nodes pending` shows: an operator's signed request (central's own key). */
  pendingNames(): Promise<string[]>;
}

async function startCentral(t: TestContext, limits: Limits = {}): Promise<Central> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-enrol-'));
  const broker = await Broker.start({ host: '127.0.0.1', port: 0 });
  const store = new EnrolmentStore(join(dir, 'enrolment.json'));
  const enrolment = new EnrolmentExtension({
    store,
    broker: embeddedBrokerAccess(broker),
    tokenTtlMs: 3_600_000,
    ...limits,
  });
  const loaded = loadConfig({
    flags: {
      nodeName: 'central',
      dataDir: join(dir, 'central'),
      'broker.url': broker.url,
      helloInterval: 0,
      'statusFile.interval': 0,
      'inputs.socket': false,
    },
    env: {},
  });
  const central = await AdmiralNode.start({
    ...nodeOptionsFromConfig(loaded.config, silentLogger),
    extensions: [enrolment],
  });
  const nc: NatsConnection = await connect({ servers: broker.url });
  t.after(async () => {
    await nc.close();
    await central.close();
    await broker.close();
    await rm(dir, { recursive: true, force: true });
  });
  const subjects = new Subjects('adm');
  const subject = subjects.central(ENROL_SERVICE);
  return {
    store,
    enrolment,
    async ask(name, identity = generateIdentity(), token) {
      const signed = signRequest(ENROL_SERVICE, { name, ...(token && { token }) }, identity);
      const reply = await nc.request(subject, JSON.stringify(signed), { timeout: 5000 });
      return JSON.parse(Buffer.from(reply.data).toString('utf8')) as EnrolReply;
    },
    async pendingNames() {
      const body = { op: 'nodes.list', state: 'pending' };
      const signed = signRequest(ENROL_ADMIN_SERVICE, body, central.identity);
      const reply = await nc.request(
        subjects.central(ENROL_ADMIN_SERVICE),
        JSON.stringify(signed),
        {
          timeout: 5000,
        },
      );
      const answer = JSON.parse(Buffer.from(reply.data).toString('utf8')) as EnrolAdminReply;
      assert.ok(answer.ok, JSON.stringify(answer));
      return (answer.nodes ?? []).map((n) => n.name);
    },
  };
}

test('a flood of token-less enrolment requests is capped: past the cap each is refused as busy, and a valid token still gets in', async (t) => {
  const central = await startCentral(t, { maxPending: 5, requestsPerSecond: 1000 });
  const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => central.ask(`flood${i}`)));
  const pending = replies.filter((r) => r.status === 'pending');
  const busy = replies.filter((r) => r.status === 'busy');
  assert.equal(pending.length, 5, JSON.stringify(replies.slice(0, 8)));
  assert.equal(busy.length, 35);
  assert.match(
    (busy[0] as { reason: string }).reason,
    /5 nodes are already waiting for an operator \(central\.enrol\.maxPending\); not recorded/,
  );
  assert.equal(central.store.nodes('pending').length, 5);

  const { token } = central.enrolment.createToken();
  const withToken = await central.ask('legit', generateIdentity(), token);
  assert.equal(withToken.status, 'accepted', JSON.stringify(withToken));
});

test('enrolment requests without a valid token are rate-limited per name and in total, with a clear error', async (t) => {
  const central = await startCentral(t, { requestsPerSecond: 4 });
  const key = generateIdentity();
  const sameName = [];
  for (let i = 0; i < 6; i++) sameName.push(await central.ask('chatty', key));
  assert.equal(sameName[0]?.status, 'pending');
  const limited = sameName.filter((r) => r.status === 'busy');
  assert.ok(limited.length >= 3, JSON.stringify(sameName));
  assert.match(
    (limited[0] as { reason: string }).reason,
    /too many enrolment requests for node chatty; not recorded, ask again later/,
  );

  await new Promise((r) => setTimeout(r, 1100));
  const many = await Promise.all(Array.from({ length: 20 }, (_, i) => central.ask(`n${i}`)));
  const refused = many.filter((r) => r.status === 'busy');
  assert.ok(refused.length >= 14, `${refused.length} of 20 refused`);
  assert.match(
    (refused[0] as { reason: string }).reason,
    /more than 4 enrolment requests per second without a valid join token \(central\.enrol\.requestsPerSecond\)/,
  );
  assert.ok(central.store.nodes('pending').length <= 7);
});

test('a pending entry that stops asking expires, and its name is free again', async (t) => {
  const central = await startCentral(t, { pendingTtlMs: 500 });
  const first = generateIdentity();
  assert.equal((await central.ask('ship9', first)).status, 'pending');
  assert.deepEqual(await central.pendingNames(), ['ship9']);
  // Another key is refused while the first one's entry is live.
  assert.equal((await central.ask('ship9', generateIdentity())).status, 'rejected');
  await new Promise((r) => setTimeout(r, 700));
  assert.deepEqual(await central.pendingNames(), [], 'gone from the pending list');
  const second = generateIdentity();
  assert.equal((await central.ask('ship9', second)).status, 'pending');
  assert.equal(central.store.node('ship9')?.publicKey, second.publicKey);
});

test('a node with a valid join token gets in even when a token-less impostor is pending under its name', async (t) => {
  const central = await startCentral(t);
  const impostor = generateIdentity();
  assert.equal((await central.ask('ship1', impostor)).status, 'pending');
  const real = generateIdentity();
  const { token } = central.enrolment.createToken();
  const reply = await central.ask('ship1', real, token);
  assert.equal(reply.status, 'accepted', JSON.stringify(reply));
  const rec = central.store.node('ship1');
  assert.equal(rec?.state, 'accepted');
  assert.equal(rec?.publicKey, real.publicKey);
  // The impostor's next request is refused: the name is taken by the real node's key.
  const again = await central.ask('ship1', impostor);
  assert.equal(again.status, 'rejected');
  assert.match((again as { reason: string }).reason, /accepted with another key/);
});
