import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { encodeAccount, encodeOperator } from '@nats-io/jwt';
import { createAccount, createOperator, type KeyPair } from '@nats-io/nkeys';
import { Broker } from '../../src/broker/index.js';
import { RawClient } from '../conformance/brokers.js';

// Hostile CONNECTs in operator mode: whatever the `jwt` holds, the answer is nats-server's
// 'Authorization Violation', never an internal error, and the broker keeps serving.

const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A JWT signed by `issuer` over arbitrary claims, as an attacker would hand-craft it. */
function craft(issuer: KeyPair, claims: Record<string, unknown>): string {
  const head = `${b64({ typ: 'JWT', alg: 'ed25519-nkey' })}.${b64({ iss: issuer.getPublicKey(), ...claims })}`;
  const sig = Buffer.from(issuer.sign(new TextEncoder().encode(head))).toString('base64url');
  return `${head}.${sig}`;
}

async function start(t: TestContext): Promise<{ broker: Broker; account: KeyPair }> {
  const op = createOperator();
  const account = createAccount();
  const limits = { conn: -1, subs: -1, data: -1, payload: -1, imports: -1, exports: -1 };
  const broker = await Broker.start({
    port: 0,
    operators: [await encodeOperator('op', op)],
    resolverPreload: {
      [account.getPublicKey()]: await encodeAccount('A', account, { limits }, { signer: op }),
    },
  });
  t.after(() => broker.close());
  return { broker, account };
}

async function tryConnect(t: TestContext, port: number, connect: unknown): Promise<string> {
  const c = await RawClient.open(t, port);
  assert.ok(await c.waitFor((s) => s.includes('\r\n')));
  c.write(`CONNECT ${JSON.stringify(connect)}\r\nPING\r\n`);
  await c.closedAt;
  return c.text.slice(c.text.indexOf('\r\n') + 2);
}

test('hand-crafted and malformed user JWTs are answered Authorization Violation, never an internal error', async (t) => {
  const { broker, account } = await start(t);
  const violation = "-ERR 'Authorization Violation'\r\n";
  const jwts = {
    garbage: 'not.a.jwt',
    'two parts': 'eyJhbGciOiJub25lIn0.e30',
    'null claims': `${b64({ typ: 'JWT', alg: 'ed25519-nkey' })}.${b64(null)}.AAAA`,
    'subject is an operator key': craft(account, {
      sub: createOperator().getPublicKey(),
      nats: { type: 'user', version: 2, bearer_token: true },
    }),
    'subject is not a key': craft(account, {
      sub: 'UNOTAKEY',
      nats: { type: 'user', version: 2, bearer_token: true },
    }),
    'alg none': `${b64({ typ: 'JWT', alg: 'none' })}.${b64({ iss: account.getPublicKey(), sub: 'U', nats: { type: 'user' } })}.`,
    'permissions with an invalid subject': craft(account, {
      sub: 'UAB4AW3K5K3MTL3CWKHOMXU7JTYXFO4WBHMPAYOBTALKIDLVTOSRYLRS',
      nats: { type: 'user', version: 2, bearer_token: true, pub: { allow: ['a..b'] } },
    }),
  };
  for (const [name, jwt] of Object.entries(jwts)) {
    assert.equal(await tryConnect(t, broker.port, { verbose: false, jwt }), violation, name);
  }
  // Still serving.
  const c = await RawClient.open(t, broker.port);
  assert.ok(await c.waitFor((s) => s.startsWith('INFO ')));
});
