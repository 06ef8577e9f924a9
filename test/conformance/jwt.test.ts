import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';
import {
  connect,
  credsAuthenticator,
  jwtAuthenticator,
  type NatsConnection,
} from '@nats-io/transport-node';
import { type BrokerUnderTest, forEachBroker, RawClient } from './brokers.js';

// Decentralized JWT auth (operator mode, memory resolver) on both brokers, from the same config,
// with JWTs made by @nats-io/jwt as nsc makes them and the nats.js authenticators.

interface Fleet {
  config: string;
  users: Record<string, { jwt: string; kp: KeyPair }>;
  /** Account A's public key. */
  accountA: string;
  /** A user of account A whose JWT expires `seconds` from now. */
  expiring(seconds: number): Promise<{ jwt: string; kp: KeyPair }>;
}

const now = (): number => Math.floor(Date.now() / 1000);

async function makeFleet(): Promise<Fleet> {
  const op = createOperator();
  const opJwt = await encodeOperator('op', op);
  const a = createAccount();
  const b = createAccount();
  const aSigner = createAccount();
  const revoked = createUser();
  // nsc writes these limits; without them nats-server admits no connection to the account.
  const limits = {
    conn: -1,
    subs: -1,
    data: -1,
    payload: -1,
    imports: -1,
    exports: -1,
    wildcards: true,
    leaf: -1,
  };
  const aJwt = await encodeAccount(
    'A',
    a,
    {
      limits,
      signing_keys: [aSigner.getPublicKey()],
      revocations: { [revoked.getPublicKey()]: now() + 60 },
    },
    { signer: op },
  );
  const bJwt = await encodeAccount('B', b, { limits: { ...limits, conn: 1 } }, { signer: op });
  const stranger = createOperator();
  const lost = createAccount();
  const lostJwt = await encodeAccount('lost', lost, { limits }, { signer: stranger });
  const users: Fleet['users'] = {};
  const add = async (
    name: string,
    issuer: KeyPair,
    data: object = {},
    opts: object = {},
    kp = createUser(),
  ) => {
    users[name] = { kp, jwt: await encodeUser(name, kp, issuer, data, opts) };
  };
  await add('alice', a);
  await add('bob', b);
  await add('bob2', b);
  await add('signed', aSigner, { issuer_account: a.getPublicKey() });
  await add('limited', a, { sub: { deny: ['secret.>'] }, pub: { allow: ['ok.>'] } });
  await add('bearer', a, { bearer_token: true });
  await add('expired', a, {}, { exp: now() - 10 });
  await add('revoked', a, {}, {}, revoked);
  await add('orphan', lost);
  await add('forged', createAccount(), { issuer_account: a.getPublicKey() });
  const config = `operator: "${opJwt}"
resolver: MEMORY
resolver_preload: {
  ${a.getPublicKey()}: "${aJwt}"
  ${b.getPublicKey()}: "${bJwt}"
  ${lost.getPublicKey()}: "${lostJwt}"
}
`;
  const expiring = async (seconds: number) => {
    const kp = createUser();
    return { kp, jwt: await encodeUser('short', kp, a, {}, { exp: now() + seconds }) };
  };
  return { config, users, expiring, accountA: a.getPublicKey() };
}

const fleet = await makeFleet();

async function as(t: TestContext, b: BrokerUnderTest, name: string): Promise<NatsConnection> {
  const u = fleet.users[name]!;
  const nc = await connect({
    servers: b.url,
    reconnect: false,
    authenticator: credsAuthenticator(fmtCreds(u.jwt, u.kp)),
  });
  t.after(() => nc.close());
  return nc;
}

async function refused(b: BrokerUnderTest, opts: Parameters<typeof connect>[0]): Promise<string> {
  try {
    const nc = await connect({ servers: b.url, reconnect: false, ...opts });
    await nc.close();
    return 'connected';
  } catch (err) {
    return (err as Error).message;
  }
}

const setup = { config: fleet.config };

/** A raw connection that answers the nonce with the user's signature, then PINGs. */
async function rawAs(
  t: TestContext,
  b: BrokerUnderTest,
  u: { jwt: string; kp: KeyPair },
): Promise<RawClient> {
  const c = await RawClient.open(t, b.port);
  assert.ok(await c.waitFor((s) => s.includes('\r\n')));
  const info = JSON.parse(/^INFO (.*) \r\n/.exec(c.text)![1]!) as { nonce: string };
  const sig = Buffer.from(u.kp.sign(new TextEncoder().encode(info.nonce))).toString('base64url');
  c.write(`CONNECT ${JSON.stringify({ verbose: false, jwt: u.jwt, sig })}\r\nPING\r\n`);
  return c;
}

forEachBroker(
  'users of an account connect with .creds and exchange messages; other accounts do not see them',
  async (t, b) => {
    const alice = await as(t, b, 'alice');
    const signed = await as(t, b, 'signed');
    const bob = await as(t, b, 'bob');
    assert.equal(alice.info?.auth_required, true);
    assert.match(alice.info?.nonce ?? '', /^[A-Za-z0-9_-]{15,}$/);
    const got: Record<string, string[]> = { alice: [], signed: [], bob: [] };
    for (const [name, nc] of [
      ['alice', alice],
      ['signed', signed],
      ['bob', bob],
    ] as const) {
      nc.subscribe('shared.subject', { callback: (_e, m) => void got[name]!.push(m.string()) });
      await nc.flush();
    }
    alice.publish('shared.subject', 'from A');
    bob.publish('shared.subject', 'from B');
    for (const nc of [alice, bob, signed, alice, bob, signed]) await nc.flush();
    assert.deepEqual(got, { alice: ['from A'], signed: ['from A'], bob: ['from B'] });
  },
  setup,
);

forEachBroker(
  'a user JWT’s permissions are enforced with nats-server’s errors',
  async (t, b) => {
    const nc = await as(t, b, 'limited');
    const errs: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errs.push(String(s.error));
    })();
    nc.subscribe('secret.x');
    nc.publish('not.ok', 'x');
    await nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(
      errs.some((e) => /Subscription to "secret.x"/.test(e)),
      errs.join('\n'),
    );
    assert.ok(
      errs.some((e) => /Publish to "not.ok"/.test(e)),
      errs.join('\n'),
    );
  },
  setup,
);

forEachBroker(
  'a bearer JWT needs no signature; any other JWT without one is refused',
  async (t, b) => {
    const nc = await connect({
      servers: b.url,
      reconnect: false,
      authenticator: jwtAuthenticator(fleet.users.bearer!.jwt),
    });
    t.after(() => nc.close());
    await nc.flush();
    const msg = await refused(b, { authenticator: jwtAuthenticator(fleet.users.alice!.jwt) });
    assert.match(msg, /Authorization Violation/i);
  },
  setup,
);

forEachBroker(
  'expired, revoked, orphaned and forged user JWTs are refused with Authorization Violation',
  async (_t, b) => {
    for (const name of ['expired', 'revoked', 'orphan', 'forged']) {
      const u = fleet.users[name]!;
      const msg = await refused(b, { authenticator: credsAuthenticator(fmtCreds(u.jwt, u.kp)) });
      assert.match(msg, /Authorization Violation/i, name);
    }
    assert.match(await refused(b, {}), /Authorization Violation/i, 'no credentials');
  },
  setup,
);

forEachBroker(
  'a user whose JWT expires is told User Authentication Expired and closed',
  async (t, b) => {
    const c = await rawAs(t, b, await fleet.expiring(2));
    assert.ok(await c.waitFor((s) => s.includes('PONG\r\n')), c.text);
    assert.ok(await c.waitFor((s) => s.includes('Expired'), 5000), c.text);
    await c.closedAt;
    assert.ok(c.text.endsWith("-ERR 'User Authentication Expired'\r\n"), c.text);
  },
  { ...setup, timeoutMs: 20_000 },
);

let expiringAccountUser: { jwt: string; kp: KeyPair } | undefined;
forEachBroker(
  'the users of an account whose JWT expires are told Account Authentication Expired and closed',
  async (t, b) => {
    const c = await rawAs(t, b, expiringAccountUser!);
    assert.ok(await c.waitFor((s) => s.includes('PONG\r\n')), c.text);
    assert.ok(await c.waitFor((s) => s.includes('Expired'), 5000), c.text);
    await c.closedAt;
    assert.ok(c.text.endsWith("-ERR 'Account Authentication Expired'\r\n"), c.text);
  },
  {
    timeoutMs: 20_000,
    // A fresh account per broker, expiring 2 s after it starts.
    config: async () => {
      const op = createOperator();
      const acc = createAccount();
      const accJwt = await encodeAccount(
        'short',
        acc,
        { limits: { conn: -1, subs: -1 } },
        { signer: op, exp: now() + 2 },
      );
      const kp = createUser();
      expiringAccountUser = { kp, jwt: await encodeUser('u', kp, acc) };
      return `operator: "${await encodeOperator('op', op)}"\nresolver: MEMORY\nresolver_preload: {\n  ${acc.getPublicKey()}: "${accJwt}"\n}\n`;
    },
  },
);

forEachBroker(
  'an account’s connection limit is enforced with nats-server’s error',
  async (t, b) => {
    await as(t, b, 'bob');
    const c = await rawAs(t, b, fleet.users.bob2!);
    await c.closedAt;
    assert.ok(c.text.endsWith("-ERR 'maximum account active connections exceeded'\r\n"), c.text);
  },
  setup,
);

forEachBroker(
  '/connz?auth=1 names a JWT user by its key and its account',
  async (t, b) => {
    await as(t, b, 'alice');
    const res = await fetch(`${b.monitorUrl}/connz?auth=1`);
    const connz = (await res.json()) as { connections: Record<string, unknown>[] };
    const c = connz.connections[0]!;
    assert.equal(c.authorized_user, fleet.users.alice!.kp.getPublicKey());
    assert.equal(c.account, fleet.accountA);
  },
  { config: () => `${fleet.config}http_port: -1\n` },
);
