import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, type TestContext } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import {
  type ConnectionOptions,
  connect,
  errors,
  headers,
  type Msg,
  type NatsConnection,
  nkeyAuthenticator,
} from '@nats-io/transport-node';
import {
  type BrokerSetup,
  type BrokerUnderTest,
  type CaseFn,
  forEachBroker,
  makeTlsMaterial,
  RawClient,
  type TlsMaterial,
} from './brokers.js';

// Client-level conformance: each case drives the official nats.js client against the embedded
// broker and against nats-server, and asserts what a client can observe.

async function conn(
  t: TestContext,
  b: BrokerUnderTest,
  opts: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  const nc = await connect({ servers: b.url, reconnect: false, timeout: 5000, ...opts });
  t.after(() => nc.close());
  return nc;
}

/** Subscribes with a callback (called during parsing, so a flush makes delivery observable). */
function collect(nc: NatsConnection, subject: string, queue?: string): Msg[] {
  const got: Msg[] = [];
  nc.subscribe(subject, {
    queue,
    callback: (err, m) => {
      if (!err) got.push(m);
    },
  });
  return got;
}

/** Flushes the publisher, then each receiver: their PONGs come after the messages routed to them. */
async function settle(...ncs: NatsConnection[]): Promise<void> {
  for (const nc of ncs) await nc.flush();
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof Error);
    return err;
  }
  assert.fail('expected a rejection');
}

/** The next server -ERR the client reports through its status stream. */
async function nextServerError(nc: NatsConnection, timeoutMs = 3000): Promise<Error> {
  const timer = setTimeout(() => nc.close(), timeoutMs);
  try {
    for await (const s of nc.status()) {
      if (s.type === 'error') return s.error;
    }
  } finally {
    clearTimeout(timer);
  }
  assert.fail('no server error reported');
}

function errorShape(err: Error): Record<string, unknown> {
  const pe = err instanceof errors.PermissionViolationError ? err : undefined;
  return {
    name: err.name,
    message: err.message,
    operation: pe?.operation,
    subject: pe?.subject,
    queue: pe?.queue,
  };
}

const cases: Array<{ name: string; run: CaseFn; setup?: BrokerSetup }> = [];
function conformance(name: string, run: CaseFn, setup?: BrokerSetup): void {
  cases.push({ name, run, setup });
}

// --- Messaging --------------------------------------------------------------------------------

conformance(
  'a subscriber receives published messages in order with their payloads',
  async (t, b) => {
    const nc = await conn(t, b);
    const got = collect(nc, 'greet');
    for (const s of ['one', 'two', 'three']) nc.publish('greet', s);
    nc.publish('other', 'nope');
    await settle(nc);
    assert.deepEqual(
      got.map((m) => [m.subject, m.string()]),
      [
        ['greet', 'one'],
        ['greet', 'two'],
        ['greet', 'three'],
      ],
    );
  },
);

conformance('* matches one token and > one or more, so foo.> does not match foo', async (t, b) => {
  const nc = await conn(t, b);
  const star = collect(nc, 'foo.*');
  const full = collect(nc, 'foo.>');
  const mid = collect(nc, '*.bar.*');
  for (const s of ['foo', 'foo.bar', 'foo.bar.baz', 'x.bar.y', 'foo.baz']) nc.publish(s, s);
  await settle(nc);
  const subjects = (ms: Msg[]) => ms.map((m) => m.subject);
  assert.deepEqual(subjects(star), ['foo.bar', 'foo.baz']);
  assert.deepEqual(subjects(full), ['foo.bar', 'foo.bar.baz', 'foo.baz']);
  assert.deepEqual(subjects(mid), ['foo.bar.baz', 'x.bar.y']);
});

conformance('a queue group delivers each message to exactly one member', async (t, b) => {
  const pub = await conn(t, b);
  const m1 = await conn(t, b);
  const m2 = await conn(t, b);
  const a = collect(m1, 'work', 'workers');
  const c = collect(m2, 'work', 'workers');
  const plain = collect(m2, 'work');
  await settle(m1, m2);
  const n = 200;
  for (let i = 0; i < n; i++) pub.publish('work', String(i));
  await settle(pub, m1, m2);
  const seen = [...a, ...c].map((m) => Number(m.string())).sort((x, y) => x - y);
  assert.deepEqual(
    seen,
    Array.from({ length: n }, (_, i) => i),
  );
  assert.ok(a.length > 0 && c.length > 0, `both members got some: ${a.length}/${c.length}`);
  assert.equal(plain.length, n, 'a plain subscription still gets every message');
});

conformance('a request gets the reply its responder sends', async (t, b) => {
  const svc = await conn(t, b);
  svc.subscribe('svc.upper', {
    callback: (_e, m) => {
      m.respond(m.string().toUpperCase());
    },
  });
  await svc.flush();
  const client = await conn(t, b);
  const replies = await Promise.all(
    ['a', 'b', 'c'].map((s) => client.request('svc.upper', s, { timeout: 3000 })),
  );
  assert.deepEqual(
    replies.map((r) => r.string()),
    ['A', 'B', 'C'],
  );
});

conformance('a request nobody listens to fails at once with no responders (503)', async (t, b) => {
  const nc = await conn(t, b);
  const started = Date.now();
  const err = await rejection(nc.request('nobody.home', 'x', { timeout: 5000 }));
  assert.ok(err instanceof errors.RequestError, `got ${err.name}: ${err.message}`);
  assert.ok(err.isNoResponders());
  assert.ok(err.cause instanceof errors.NoRespondersError);
  assert.ok(Date.now() - started < 4000, 'failed fast, not by timeout');
  // The same through a plain subscription: the 503 status message itself.
  const inbox = collect(nc, 'my.inbox');
  nc.publish('nobody.home', 'x', { reply: 'my.inbox' });
  await settle(nc);
  assert.equal(inbox.length, 1);
  assert.equal(inbox[0]!.headers?.code, 503);
  assert.equal(inbox[0]!.data.length, 0);
});

conformance('headers round-trip with repeated values and the payload intact', async (t, b) => {
  const nc = await conn(t, b);
  const got = collect(nc, 'hdr');
  const h = headers();
  h.set('X-Admiral', 'one');
  h.append('X-Admiral', 'two');
  h.set('Content-Type', 'text/plain');
  nc.publish('hdr', 'body', { headers: h });
  nc.publish('hdr', 'no headers');
  await settle(nc);
  assert.equal(got.length, 2);
  assert.deepEqual(got[0]!.headers?.values('X-Admiral'), ['one', 'two']);
  assert.equal(got[0]!.headers?.get('Content-Type'), 'text/plain');
  assert.equal(got[0]!.string(), 'body');
  assert.equal(got[1]!.headers, undefined);
  assert.equal(got[1]!.string(), 'no headers');
});

conformance(
  'UNSUB with a maximum makes the server stop delivering after N messages',
  async (t, b) => {
    const sub = await conn(t, b);
    const got: string[] = [];
    sub.subscribe('limited', {
      max: 3,
      callback: (_e, m) => {
        got.push(m.string());
      },
    });
    await sub.flush();
    const pub = await conn(t, b);
    for (let i = 0; i < 6; i++) pub.publish('limited', String(i));
    await settle(pub, sub);
    assert.deepEqual(got, ['0', '1', '2']);
    // inMsgs counts every MSG the server sent, including any the client would have dropped.
    assert.equal(sub.stats().inMsgs, 3);
  },
);

conformance('a connection with echo off gets none of its own messages', async (t, b) => {
  const quiet = await conn(t, b, { noEcho: true });
  const other = await conn(t, b);
  const own = collect(quiet, 'echo.test');
  const theirs = collect(other, 'echo.test');
  await settle(quiet, other);
  quiet.publish('echo.test', 'mine');
  other.publish('echo.test', 'yours');
  await settle(quiet, other, quiet);
  assert.deepEqual(
    own.map((m) => m.string()),
    ['yours'],
  );
  assert.deepEqual(theirs.map((m) => m.string()).sort(), ['mine', 'yours']);
});

// --- Authentication --------------------------------------------------------------------------

const tokenConf = 'authorization { token: "s3cret" }\n';
conformance(
  'token auth accepts the right token and refuses a wrong or missing one',
  async (t, b) => {
    const nc = await conn(t, b, { token: 's3cret' });
    await nc.flush();
    for (const opts of [{ token: 'wrong' }, {}]) {
      const err = await rejection(conn(t, b, opts));
      assert.ok(err instanceof errors.AuthorizationError, `got ${err.name}: ${err.message}`);
      assert.match(err.message, /Authorization Violation/);
    }
  },
  { config: tokenConf },
);

conformance(
  'user/password auth accepts the right password and refuses a wrong one',
  async (t, b) => {
    const nc = await conn(t, b, { user: 'alice', pass: 'pw1' });
    await nc.flush();
    for (const opts of [{ user: 'alice', pass: 'nope' }, { user: 'mallory', pass: 'pw1' }, {}]) {
      const err = await rejection(conn(t, b, opts));
      assert.ok(err instanceof errors.AuthorizationError, `got ${err.name}: ${err.message}`);
    }
  },
  { config: 'authorization { users: [ { user: alice, password: pw1 } ] }\n' },
);

const goodUser = createUser();
const otherUser = createUser();
conformance(
  'nkey auth accepts a signature by the configured key and refuses another key',
  async (t, b) => {
    const nc = await conn(t, b, { authenticator: nkeyAuthenticator(goodUser.getSeed()) });
    await nc.flush();
    const err = await rejection(
      conn(t, b, { authenticator: nkeyAuthenticator(otherUser.getSeed()) }),
    );
    assert.ok(err instanceof errors.AuthorizationError, `got ${err.name}: ${err.message}`);
  },
  { config: `authorization { users: [ { nkey: ${goodUser.getPublicKey()} } ] }\n` },
);

conformance(
  'a client that never sends CONNECT gets Authentication Timeout and is closed',
  async (t, b) => {
    const raw = await RawClient.open(t, b.port);
    const started = Date.now();
    assert.ok(await raw.waitFor((s) => s.startsWith('INFO ') && s.includes('\r\n')));
    const info = JSON.parse(/^INFO (.*?) ?\r\n/.exec(raw.text)![1]!) as Record<string, unknown>;
    assert.equal(info['auth_required'], true);
    await raw.closedAt;
    const elapsed = Date.now() - started;
    assert.match(raw.text, /\r\n-ERR 'Authentication Timeout'\r\n$/);
    assert.ok(elapsed >= 400 && elapsed < 3000, `closed after ${elapsed} ms, timeout is 0.5 s`);
  },
  { config: 'authorization { token: "s3cret", timeout: 0.5 }\n' },
);

// --- Permissions -----------------------------------------------------------------------------

const permsConf = `
authorization {
  users: [
    { user: admin, password: a }
    { user: limited, password: l, permissions: {
        publish: { deny: ["secret.>"] }
        subscribe: { deny: ["secret.>", "private"] }
    } }
    { user: responder, password: r, permissions: {
        publish: { allow: ["public.>"] }
        subscribe: { allow: ["svc.>"] }
        allow_responses: true
    } }
  ]
}
`;
const asAdmin = { user: 'admin', pass: 'a' };
const asLimited = { user: 'limited', pass: 'l' };

conformance(
  'publishing to a denied subject is reported and not delivered, and the connection lives on',
  async (t, b) => {
    const admin = await conn(t, b, asAdmin);
    const got = collect(admin, 'secret.plans');
    await admin.flush();
    const nc = await conn(t, b, asLimited);
    const errP = nextServerError(nc);
    nc.publish('secret.plans', 'leak');
    const err = await errP;
    assert.deepEqual(errorShape(err), {
      name: 'PermissionViolationError',
      message: 'Permissions Violation for Publish to "secret.plans"',
      operation: 'publish',
      subject: 'secret.plans',
      queue: undefined,
    });
    await settle(nc, admin);
    assert.equal(got.length, 0);
    assert.equal(nc.isClosed(), false);
    nc.publish('public.news', 'ok');
    await nc.flush();
  },
  { config: permsConf },
);

for (const [what, subject, queue] of [
  ['a subscription', 'private', undefined],
  ['a queue subscription', 'private', 'q1'],
  ['a wildcard subscription covered by a deny rule', 'secret.*', undefined],
  ['a full-wildcard queue subscription covered by a deny rule', 'secret.>', 'q2'],
] as const) {
  conformance(
    `${what} to a denied subject is refused with a permissions violation`,
    async (t, b) => {
      const nc = await conn(t, b, asLimited);
      const sub = nc.subscribe(subject, { queue });
      const closed = await sub.closed;
      assert.ok(closed instanceof Error, 'the subscription closed with an error');
      const qpart = queue === undefined ? '' : ` using queue "${queue}"`;
      assert.deepEqual(errorShape(closed), {
        name: 'PermissionViolationError',
        message: `Permissions Violation for Subscription to "${subject}"${qpart}`,
        operation: 'subscription',
        subject,
        queue,
      });
      assert.equal(nc.isClosed(), false);
      await nc.flush();
    },
    { config: permsConf },
  );
}

conformance(
  'a broad wildcard subscription is allowed but never receives messages on denied subjects',
  async (t, b) => {
    const nc = await conn(t, b, asLimited);
    const got = collect(nc, '>');
    await nc.flush();
    const admin = await conn(t, b, asAdmin);
    admin.publish('secret.plans', 'hidden');
    admin.publish('public.news', 'visible');
    await settle(admin, nc);
    assert.deepEqual(
      got.map((m) => m.subject),
      ['public.news'],
    );
  },
  { config: permsConf },
);

conformance(
  'allow_responses lets a responder reply to a request it received but not publish elsewhere',
  async (t, b) => {
    const svc = await conn(t, b, { user: 'responder', pass: 'r' });
    svc.subscribe('svc.echo', {
      callback: (_e, m) => {
        m.respond(`re:${m.string()}`);
      },
    });
    await svc.flush();
    const admin = await conn(t, b, asAdmin);
    const reply = await admin.request('svc.echo', 'hi', { timeout: 3000 });
    assert.equal(reply.string(), 're:hi');
    const errP = nextServerError(svc);
    svc.publish('_INBOX.not.a.request', 'x');
    assert.deepEqual(errorShape(await errP), {
      name: 'PermissionViolationError',
      message: 'Permissions Violation for Publish to "_INBOX.not.a.request"',
      operation: 'publish',
      subject: '_INBOX.not.a.request',
      queue: undefined,
    });
  },
  { config: permsConf },
);

// --- Limits ----------------------------------------------------------------------------------

conformance(
  'a payload over max_payload is refused by the client and by the server',
  async (t, b) => {
    const nc = await conn(t, b);
    assert.equal(nc.info?.max_payload, 1024);
    const err = (() => {
      try {
        nc.publish('big', new Uint8Array(1025));
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    assert.ok(err instanceof errors.InvalidArgumentError, `client refused: ${err}`);
    nc.publish('big', new Uint8Array(1024));
    await nc.flush();
    // A client that ignores INFO: the server refuses the declared size and closes.
    const raw = await RawClient.open(t, b.port);
    raw.write('CONNECT {"verbose":false}\r\nPUB big 1025\r\n');
    await raw.closedAt;
    assert.match(raw.text, /\r\n-ERR 'Maximum Payload Violation'\r\n$/);
  },
  { config: 'max_payload: 1KB\n' },
);

// --- TLS -------------------------------------------------------------------------------------

let tls: TlsMaterial | undefined;
before(async () => {
  tls = await makeTlsMaterial();
});
after(async () => {
  if (tls) await rm(tls.dir, { recursive: true, force: true });
});

conformance(
  'a TLS broker serves a client that trusts its CA',
  async (t, b) => {
    const nc = await conn(t, b, { tls: { ca: tls!.ca } });
    assert.equal(nc.info?.tls_required, true);
    const got = collect(nc, 'tls.x');
    nc.publish('tls.x', 'secure');
    await settle(nc);
    assert.deepEqual(
      got.map((m) => m.string()),
      ['secure'],
    );
  },
  {
    configDir: () => tls!.dir,
    config: 'tls { cert_file: "server.pem", key_file: "./server-key.pem", timeout: 2 }\n',
  },
);

conformance(
  'a TLS broker with verify accepts a client certificate from its CA and refuses a client without one',
  async (t, b) => {
    const nc = await conn(t, b, {
      tls: { ca: tls!.ca, cert: tls!.clientCert, key: tls!.clientKey },
    });
    assert.equal(nc.info?.tls_verify, true);
    await nc.flush();
    await rejection(conn(t, b, { tls: { ca: tls!.ca } }));
  },
  {
    configDir: () => tls!.dir,
    config:
      'tls {\n cert_file: server.pem\n key_file: server-key.pem\n ca_file: ca.pem\n verify: true\n}\n',
  },
);

conformance(
  'a plain-text client of a TLS broker gets INFO with tls_required and is closed without an -ERR',
  async (t, b) => {
    const c = await RawClient.open(t, b.port);
    c.write('CONNECT {"verbose":false}\r\nPING\r\n');
    await c.closedAt;
    assert.match(c.text, /^INFO \{.*"tls_required":true.*\} \r\n$/);
  },
  {
    configDir: () => tls!.dir,
    config: 'tls { cert_file: "server.pem", key_file: "server-key.pem" }\n',
  },
);

conformance(
  'a client that never starts the TLS handshake is closed after tls timeout, with nothing after INFO',
  async (t, b) => {
    const c = await RawClient.open(t, b.port);
    const start = Date.now();
    await c.closedAt;
    const waited = Date.now() - start;
    assert.ok(waited >= 400 && waited < 3000, `closed after ${waited} ms`);
    assert.match(c.text, /^INFO \{.*\} \r\n$/);
  },
  {
    configDir: () => tls!.dir,
    config: 'tls { cert_file: "server.pem", key_file: "server-key.pem", timeout: 0.5 }\n',
  },
);

conformance(
  'with allow_non_tls a TLS broker offers TLS (tls_available) and serves clients with and without it',
  async (t, b) => {
    const secure = await conn(t, b, { tls: { ca: tls!.ca } });
    assert.equal(secure.info?.tls_available, true);
    assert.equal(secure.info?.tls_required, undefined);
    const plain = await conn(t, b, { tls: null });
    const got = collect(secure, 'mixed.x');
    await settle(secure);
    plain.publish('mixed.x', 'from plain text');
    await settle(plain);
    await settle(secure);
    assert.deepEqual(
      got.map((m) => m.string()),
      ['from plain text'],
    );
  },
  {
    configDir: () => tls!.dir,
    config: 'allow_non_tls: true\ntls { cert_file: "server.pem", key_file: "server-key.pem" }\n',
  },
);

conformance(
  'a monitoring endpoint over HTTPS uses the tls certificate',
  async (_t, b) => {
    assert.ok(b.monitorUrl);
    const https = await import('node:https');
    const url = b.monitorUrl.replace(/^http:/, 'https:');
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(`${url}/healthz`, { ca: tls!.ca }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    assert.equal(body, '{"status":"ok"}');
  },
  {
    configDir: () => tls!.dir,
    config: 'https_port: -1\ntls { cert_file: "server.pem", key_file: "server-key.pem" }\n',
  },
);

for (const c of cases) forEachBroker(c.name, c.run, c.setup);
