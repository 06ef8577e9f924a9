import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, type TestContext, test } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import {
  connect,
  type NatsConnection,
  nkeyAuthenticator,
  PermissionViolationError,
} from '@nats-io/transport-node';
import type { Broker, BrokerOptionsInput } from '../../src/broker/index.js';
import { natsClient, startBroker } from './harness.js';

const start = (t: TestContext, options: BrokerOptionsInput = {}): Promise<Broker> =>
  startBroker(t, options);

const client = (_t: TestContext, broker: Broker, extra = {}): Promise<NatsConnection> =>
  natsClient(broker, extra);

function rejectsAuth(p: Promise<unknown>): Promise<void> {
  return assert.rejects(p, (err: unknown) => {
    assert.match(String((err as Error).message), /authorization violation/i);
    return true;
  });
}

/** Raw TCP: what the server writes before it closes. */
function rawExchange(port: number, send: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (send && text.includes('\r\n')) {
        s.write(send);
        send = '';
      }
    });
    s.on('close', () => resolve(text.slice(text.indexOf('\r\n') + 2)));
    s.on('error', reject);
  });
}

describe('authentication', () => {
  test('token: the right token connects, a wrong one is an authorization violation', async (t) => {
    const broker = await start(t, { authorization: { token: 's3cret' } });
    const nc = await client(t, broker, { token: 's3cret' });
    await nc.flush();
    await rejectsAuth(connect({ servers: broker.url, token: 'nope', reconnect: false }));
    await rejectsAuth(connect({ servers: broker.url, reconnect: false }));
  });

  test('user and password, single and from the users list', async (t) => {
    const single = await start(t, { authorization: { user: 'ops', password: 'pw' } });
    await (await client(t, single, { user: 'ops', pass: 'pw' })).flush();
    await rejectsAuth(connect({ servers: single.url, user: 'ops', pass: 'bad', reconnect: false }));

    const list = await start(t, {
      authorization: {
        users: [
          { user: 'a', password: '1' },
          { user: 'b', password: '2' },
        ],
      },
    });
    await (await client(t, list, { user: 'b', pass: '2' })).flush();
    await rejectsAuth(connect({ servers: list.url, user: 'a', pass: '2', reconnect: false }));
  });

  test('nkey: the client signs the nonce; an unknown key is refused', async (t) => {
    const user = createUser();
    const broker = await start(t, { authorization: { users: [{ nkey: user.getPublicKey() }] } });
    const nc = await client(t, broker, { authenticator: nkeyAuthenticator(user.getSeed()) });
    await nc.flush();
    assert.equal((nc.info as { nonce?: string } | undefined)?.nonce?.length, 15);
    const stranger = createUser();
    await rejectsAuth(
      connect({
        servers: broker.url,
        authenticator: nkeyAuthenticator(stranger.getSeed()),
        reconnect: false,
      }),
    );
  });

  test('an operation before CONNECT is an authorization violation', async (t) => {
    const broker = await start(t, { authorization: { token: 't' } });
    assert.equal(await rawExchange(broker.port, 'PING\r\n'), "-ERR 'Authorization Violation'\r\n");
  });

  test('no CONNECT within the auth timeout closes with Authentication Timeout', async (t) => {
    const broker = await start(t, { authorization: { token: 't', timeout: 0.1 } });
    assert.equal(await rawExchange(broker.port, ''), "-ERR 'Authentication Timeout'\r\n");
  });

  test('INFO says auth_required only when auth is configured', async (t) => {
    const broker = await start(t, { authorization: { token: 't' } });
    const nc = await client(t, broker, { token: 't' });
    assert.equal((nc.info as { auth_required?: boolean } | undefined)?.auth_required, true);
  });
});

describe('permissions end to end', () => {
  const users = [
    {
      user: 'limited',
      password: 'pw',
      permissions: {
        publish: { allow: ['public.>', 'req.>'], deny: ['public.secret'] },
        subscribe: { allow: ['public.>', '_INBOX.>'], deny: ['public.hidden'] },
      },
    },
    { user: 'admin', password: 'pw' },
    {
      user: 'svc',
      password: 'pw',
      permissions: { subscribe: { allow: ['req.>'] }, allowResponses: true },
    },
  ];

  test('a denied publish is reported as a permissions violation and not delivered', async (t) => {
    const broker = await start(t, { authorization: { users } });
    const admin = await client(t, broker, { user: 'admin', pass: 'pw' });
    const got: string[] = [];
    admin.subscribe('public.>', {
      callback: (_e, m) => {
        got.push(m.subject);
      },
    });
    await admin.flush();
    const errors: Error[] = [];
    const nc = await client(t, broker, { user: 'limited', pass: 'pw' });
    (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(s.error);
    })();
    nc.publish('public.secret', 'x');
    nc.publish('public.ok', 'y');
    await nc.flush();
    await admin.flush();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(got, ['public.ok']);
    assert.ok(
      errors.some((e) => e instanceof PermissionViolationError && /public\.secret/.test(e.message)),
    );
  });

  test('a denied subscription errors and a wildcard subscription never sees denied subjects', async (t) => {
    const broker = await start(t, { authorization: { users } });
    const nc = await client(t, broker, { user: 'limited', pass: 'pw' });
    const denied = nc.subscribe('public.hidden');
    const done = (async () => {
      try {
        for await (const _m of denied) {
          // never
        }
        return null;
      } catch (err) {
        return err;
      }
    })();
    const got: string[] = [];
    nc.subscribe('public.*', {
      callback: (_e, m) => {
        got.push(m.subject);
      },
    });
    await nc.flush();
    const admin = await client(t, broker, { user: 'admin', pass: 'pw' });
    admin.publish('public.hidden', 'h');
    admin.publish('public.seen', 's');
    await admin.flush();
    const err = await done;
    assert.ok(err instanceof PermissionViolationError, String(err));
    await nc.flush();
    assert.deepEqual(got, ['public.seen']);
  });

  test('allow_responses lets a service answer requests it may not otherwise publish to', async (t) => {
    const broker = await start(t, { authorization: { users } });
    const svc = await client(t, broker, { user: 'svc', pass: 'pw' });
    svc.subscribe('req.time', {
      callback: (_e, m) => {
        m.respond('now');
        m.respond('again'); // second response exceeds max 1 and is refused
      },
    });
    await svc.flush();
    const nc = await client(t, broker, { user: 'limited', pass: 'pw' });
    const r = await nc.request('req.time', '', { timeout: 2000 });
    assert.equal(r.string(), 'now');
  });
});
