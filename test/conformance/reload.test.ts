import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { forEachBroker, RawClient } from './brokers.js';

// Configuration reload (SIGHUP on nats-server, Broker#reload in process): new permissions apply to
// connected clients, subscriptions they no longer allow are removed with nats-server's -ERR, a
// user that was removed is closed, and one whose password changed gets Authorization Violation.

const users = (bobSubs: string, withCarol: boolean): string =>
  `authorization {\n  users: [\n    { user: bob, password: pw, permissions: { subscribe: ${bobSubs} } }\n${
    withCarol ? '    { user: carol, password: pw }\n' : ''
  }  ]\n}\n`;

forEachBroker(
  'a reload removes subscriptions the new permissions deny, with an -ERR each, and closes removed users',
  async (t, b) => {
    const bob = await RawClient.open(t, b.port);
    bob.write(
      'CONNECT {"verbose":false,"user":"bob","pass":"pw"}\r\nSUB foo 1\r\nSUB bar 2\r\nPING\r\n',
    );
    assert.ok(await bob.waitFor((s) => s.includes('PONG\r\n')), bob.text);
    const carol = await RawClient.open(t, b.port);
    carol.write('CONNECT {"verbose":false,"user":"carol","pass":"pw"}\r\nPING\r\n');
    assert.ok(await carol.waitFor((s) => s.includes('PONG\r\n')), carol.text);

    await writeFile(b.configFile!, users('["foo"]', false));
    await b.reload();
    assert.ok(await bob.waitFor((s) => s.includes('-ERR')), bob.text);
    // A user the new configuration no longer has is closed without an -ERR (reload.go).
    await carol.closedAt;
    assert.ok(carol.text.endsWith('PONG\r\n'), carol.text);

    // bob still has foo, lost bar.
    bob.write('PUB bar 1\r\nx\r\nPUB foo 1\r\ny\r\nPING\r\n');
    assert.ok(await bob.waitFor((s) => s.split('PONG').length === 3), bob.text);
    const after = bob.text.slice(bob.text.indexOf('PONG\r\n') + 6);
    assert.equal(
      after,
      `-ERR 'Permissions Violation for Subscription to "bar" (sid "2")'\r\nMSG foo 1 1\r\ny\r\nPONG\r\n`,
    );
  },
  { config: users('["foo", "bar"]', true) },
);

forEachBroker(
  'a reload that changes a user’s password closes its connection with Authorization Violation',
  async (t, b) => {
    const bob = await RawClient.open(t, b.port);
    bob.write('CONNECT {"verbose":false,"user":"bob","pass":"pw"}\r\nPING\r\n');
    assert.ok(await bob.waitFor((s) => s.includes('PONG\r\n')), bob.text);
    await writeFile(
      b.configFile!,
      'authorization {\n  users: [ { user: bob, password: changed } ]\n}\n',
    );
    await b.reload();
    await bob.closedAt;
    assert.ok(bob.text.endsWith("-ERR 'Authorization Violation'\r\n"), bob.text);
  },
  { config: users('["foo"]', false) },
);
