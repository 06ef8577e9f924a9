import assert from 'node:assert/strict';
import { createUser } from '@nats-io/nkeys';
import { type BrokerUnderTest, forEachBroker, RawClient } from './brokers.js';

// Raw-socket differential test: identical bytes go to the embedded broker and to nats-server
// 2.9.10, and the bytes that come back must be identical. `expect` is what nats-server 2.9.10 sent
// when these cases were written (so a broker that lacks a feature cannot pass by agreeing with
// nothing); both brokers are checked against it. Only the INFO line is normalised (see below).

interface RawCase {
  name: string;
  /** Bytes to send; an array is written chunk by chunk, a few ms apart. */
  send: string | string[];
  /** Whether the broker closes the connection; otherwise a PING is sent last and awaited. */
  closes: boolean;
  /** Everything the broker sends after INFO (including the final PONG when it stays open). */
  expect: string;
  config?: string;
}

const C = 'CONNECT {"verbose":false}\r\n';
const CH = 'CONNECT {"verbose":false,"headers":true}\r\n';

const cases: RawCase[] = [
  {
    name: 'CONNECT with verbose on acknowledges every operation with +OK',
    send: 'CONNECT {"verbose":true}\r\nPING\r\nSUB foo 1\r\nPUB foo 1\r\nx\r\nUNSUB 1\r\n',
    closes: false,
    expect: '+OK\r\nPONG\r\n+OK\r\n+OK\r\nMSG foo 1 1\r\nx\r\n+OK\r\nPONG\r\n',
  },
  {
    name: 'operations before CONNECT are verbose, as CONNECT defaults say',
    send: 'SUB foo 1\r\nPUB foo 2\r\nhi\r\n',
    closes: false,
    expect: '+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\nPONG\r\n',
  },
  {
    name: 'each PING gets a PONG and a PONG from the client gets nothing',
    send: `${C}PING\r\nPONG\r\nPING\r\n`,
    closes: false,
    expect: 'PONG\r\nPONG\r\nPONG\r\n',
  },
  {
    name: 'verbs are case-insensitive',
    send: 'connect {"verbose":false}\r\nsub foo 1\r\nPuB foo 5\r\nhello\r\nping\r\nunsub 1\r\npub foo 1\r\nx\r\n',
    closes: false,
    expect: 'MSG foo 1 5\r\nhello\r\nPONG\r\nPONG\r\n',
  },
  {
    name: 'tabs separate arguments like spaces',
    send: 'CONNECT\t{"verbose":false}\r\nSUB\tfoo\tq\t1\r\nPUB\tfoo\t\tbar\t5\r\nhello\r\n',
    closes: false,
    expect: 'MSG foo 1 bar 5\r\nhello\r\nPONG\r\n',
  },
  {
    name: 'PUB becomes MSG with the reply subject, empty and CRLF-holding payloads intact',
    send: `${C}SUB foo 7\r\nPUB foo r.1 5\r\nhello\r\nPUB foo 0\r\n\r\nPUB foo 4\r\na\r\nb\r\n`,
    closes: false,
    expect: 'MSG foo 7 r.1 5\r\nhello\r\nMSG foo 7 0\r\n\r\nMSG foo 7 4\r\na\r\nb\r\nPONG\r\n',
  },
  {
    name: 'HPUB becomes HMSG with header and total sizes',
    send: `${CH}SUB foo.* 1\r\nHPUB foo.y rep 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\nHPUB foo.z 12 12\r\nNATS/1.0\r\n\r\n\r\n`,
    closes: false,
    expect:
      'HMSG foo.y 1 rep 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\nHMSG foo.z 1 12 12\r\nNATS/1.0\r\n\r\n\r\nPONG\r\n',
  },
  {
    name: 'HPUB without headers negotiated closes the connection without an -ERR',
    send: `${C}HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n`,
    closes: true,
    expect: '',
  },
  {
    name: 'an invalid SUB subject gets -ERR Invalid Subject and the connection stays',
    send: `${C}SUB foo..bar 1\r\nSUB foo.>.x 2\r\nSUB .foo 3\r\nSUB foo 4\r\nPUB foo 1\r\nx\r\n`,
    closes: false,
    expect:
      "-ERR 'Invalid Subject'\r\n-ERR 'Invalid Subject'\r\n-ERR 'Invalid Subject'\r\nMSG foo 4 1\r\nx\r\nPONG\r\n",
  },
  {
    name: 'an unknown operation gets -ERR Unknown Protocol Operation and a close',
    send: `${C}FOO bar\r\n`,
    closes: true,
    expect: "-ERR 'Unknown Protocol Operation'\r\n",
  },
  {
    name: 'a MSG sent by a client is an unknown operation',
    send: `${C}MSG foo 1 1\r\na\r\n`,
    closes: true,
    expect: "-ERR 'Unknown Protocol Operation'\r\n",
  },
  {
    name: 'a control line over 4096 bytes is refused (nats-server sends the text in lower case)',
    send: `${C}PUB ${'a'.repeat(5000)} 1\r\nx\r\n`,
    closes: true,
    expect: "-ERR 'maximum control line exceeded'\r\n",
  },
  {
    name: 'a control line of 4000 bytes is accepted',
    send: `${C}SUB ${'a'.repeat(4000)} 1\r\nPUB ${'a'.repeat(4000)} 1\r\nx\r\n`,
    closes: false,
    expect: `MSG ${'a'.repeat(4000)} 1 1\r\nx\r\nPONG\r\n`,
  },
  {
    name: 'an endless control line without CRLF is refused once it passes the limit',
    send: `${C}SUB ${'a'.repeat(5000)}`,
    closes: true,
    expect: "-ERR 'maximum control line exceeded'\r\n",
  },
  {
    name: 'a payload longer than its declared size is an unknown operation',
    send: `${C}SUB foo 1\r\nPUB foo 2\r\nhello\r\n`,
    closes: true,
    expect: "-ERR 'Unknown Protocol Operation'\r\n",
  },
  {
    name: 'a PUB size that is not a number closes the connection without an -ERR',
    send: `${C}PUB foo x\r\n`,
    closes: true,
    expect: '',
  },
  {
    name: 'a SUB without a sid closes the connection without an -ERR',
    send: `${C}SUB foo\r\n`,
    closes: true,
    expect: '',
  },
  {
    name: 'UNSUB with a maximum delivers that many messages then stops',
    send: `${C}SUB foo 1\r\nUNSUB 1 2\r\n${'PUB foo 1\r\nm\r\n'.repeat(4)}`,
    closes: false,
    expect: 'MSG foo 1 1\r\nm\r\nMSG foo 1 1\r\nm\r\nPONG\r\n',
  },
  {
    name: 'a later UNSUB can raise the maximum',
    send: `${C}SUB foo 1\r\nUNSUB 1 1\r\nUNSUB 1 3\r\n${'PUB foo 1\r\nm\r\n'.repeat(4)}`,
    closes: false,
    expect: `${'MSG foo 1 1\r\nm\r\n'.repeat(3)}PONG\r\n`,
  },
  {
    name: 'UNSUB with a maximum already reached removes the subscription at once',
    send: `${C}SUB foo 1\r\n${'PUB foo 1\r\nm\r\n'.repeat(2)}UNSUB 1 1\r\nPUB foo 1\r\nm\r\n`,
    closes: false,
    expect: `${'MSG foo 1 1\r\nm\r\n'.repeat(2)}PONG\r\n`,
  },
  {
    name: 'UNSUB of an unknown sid is ignored',
    send: `${C}UNSUB 99\r\n`,
    closes: false,
    expect: 'PONG\r\n',
  },
  {
    name: 'in pedantic mode a wildcard publish subject gets -ERR Invalid Publish Subject (2.9.10 still delivers it)',
    send: 'CONNECT {"verbose":false,"pedantic":true}\r\nSUB foo.* 1\r\nPUB foo.* 1\r\na\r\n',
    closes: false,
    expect: "-ERR 'Invalid Publish Subject'\r\nMSG foo.* 1 1\r\na\r\nPONG\r\n",
  },
  {
    name: 'without pedantic a wildcard publish subject is delivered without complaint',
    send: 'CONNECT {"verbose":false,"pedantic":false}\r\nSUB foo.* 1\r\nPUB foo.* 1\r\na\r\n',
    closes: false,
    expect: 'MSG foo.* 1 1\r\na\r\nPONG\r\n',
  },
  {
    name: 'CONNECT with an unknown protocol version is refused (lower case text)',
    send: 'CONNECT {"verbose":false,"protocol":2}\r\n',
    closes: true,
    expect: "-ERR 'invalid client protocol'\r\n",
  },
  {
    name: 'CONNECT asking for no_responders without headers is refused',
    send: 'CONNECT {"verbose":false,"no_responders":true}\r\n',
    closes: true,
    expect: "-ERR 'no responders requires headers support'\r\n",
  },
  {
    name: 'CONNECT with malformed JSON closes the connection without an -ERR',
    send: 'CONNECT {"verbose":fal\r\n',
    closes: true,
    expect: '',
  },
  {
    name: 'a request nobody receives gets an empty 503 HMSG on the matching inbox subscription',
    send: 'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB _INBOX.x.* 9\r\nPUB nobody _INBOX.x.y 1\r\na\r\n',
    closes: false,
    expect: 'HMSG _INBOX.x.y 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\nPONG\r\n',
  },
  {
    name: 'frames split at every byte are reassembled',
    send: [
      ...`${CH}SUB a.b 1\r\nPUB a.b r 3\r\nxyz\r\nHPUB a.b 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPING\r\n`,
    ],
    closes: false,
    expect: 'MSG a.b 1 r 3\r\nxyz\r\nHMSG a.b 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nPONG\r\nPONG\r\n',
  },
  {
    name: 'with auth required, an operation before CONNECT is an Authorization Violation',
    send: 'SUB foo 1\r\n',
    closes: true,
    expect: "-ERR 'Authorization Violation'\r\n",
    config: 'authorization { token: "t0k" }\n',
  },
  {
    name: 'with auth required, a CONNECT with the right token is accepted',
    send: 'CONNECT {"verbose":true,"auth_token":"t0k"}\r\n',
    closes: false,
    expect: '+OK\r\nPONG\r\n',
    config: 'authorization { token: "t0k" }\n',
  },
  {
    name: 'with auth required, a CONNECT with a wrong token is an Authorization Violation',
    send: 'CONNECT {"verbose":true,"auth_token":"nope"}\r\n',
    closes: true,
    expect: "-ERR 'Authorization Violation'\r\n",
    config: 'authorization { token: "t0k" }\n',
  },
];

async function transcript(b: BrokerUnderTest, c: RawCase): Promise<{ info: string; rest: string }> {
  const raw = await RawClient.open(undefined, b.port);
  try {
    assert.ok(await raw.waitFor((s) => s.includes('\r\n')), 'INFO arrives');
    const infoEnd = raw.text.indexOf('\r\n') + 2;
    const chunks = typeof c.send === 'string' ? [c.send] : c.send;
    for (const chunk of chunks) {
      raw.write(chunk);
      if (chunks.length > 1) await new Promise((r) => setTimeout(r, 1));
    }
    if (c.closes) {
      await Promise.race([raw.closedAt, new Promise((r) => setTimeout(r, 3000))]);
      assert.ok(raw.closed, `the broker closed the connection; got ${JSON.stringify(raw.text)}`);
    } else {
      const pongs = c.expect.split('PONG\r\n').length - 1;
      raw.write('PING\r\n');
      await raw.waitFor((s) => s.slice(infoEnd).split('PONG\r\n').length - 1 >= pongs);
      // Anything a broker sends after its last PONG would be a difference too: give it a moment.
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(raw.closed, false, `the connection stays open; got ${JSON.stringify(raw.text)}`);
    }
    return { info: raw.text.slice(0, infoEnd), rest: raw.text.slice(infoEnd) };
  } finally {
    raw.destroy();
  }
}

for (const c of cases) {
  forEachBroker(
    `raw: ${c.name}`,
    async (_t, b) => {
      const { rest } = await transcript(b, c);
      assert.equal(rest, c.expect);
    },
    c.config === undefined ? {} : { config: c.config },
  );
}

// --- INFO ------------------------------------------------------------------------------------

/**
 * INFO with the fields that differ between two correct servers replaced by placeholders: ids,
 * names, versions, the address the client sees, the per-connection nonce. nats-server 2.9.10
 * also puts a space before CRLF, which no client parser cares about; the line format is checked
 * before that space is dropped.
 */
function normaliseInfo(line: string): Record<string, unknown> {
  const m = /^INFO (\{.*\}) ?\r\n$/.exec(line);
  assert.ok(m, `INFO line format: ${JSON.stringify(line)}`);
  const info = JSON.parse(m[1]!) as Record<string, unknown>;
  assert.match(String(info['version']), /^\d+\.\d+\.\d+/, 'nats.js needs a semver version');
  assert.equal(typeof info['server_id'], 'string');
  assert.equal(typeof info['client_id'], 'number');
  for (const k of [
    'server_id',
    'server_name',
    'version',
    'host',
    'port',
    'client_id',
    'client_ip',
  ]) {
    if (k in info) info[k] = `<${k}>`;
  }
  // `go` is the Go toolchain version: meaningless for a broker not written in Go, unused by clients.
  delete info['go'];
  if ('nonce' in info) {
    assert.match(String(info['nonce']), /^[A-Za-z0-9_-]{15}$/, 'nonce is 11 bytes, base64url');
    info['nonce'] = '<nonce>';
  }
  return info;
}

const plainInfo = {
  server_id: '<server_id>',
  server_name: '<server_name>',
  version: '<version>',
  proto: 1,
  host: '<host>',
  port: '<port>',
  headers: true,
  max_payload: 1048576,
  client_id: '<client_id>',
  client_ip: '<client_ip>',
};

const nkeyUser = createUser();
for (const [what, config, expected] of [
  ['without auth', undefined, plainInfo],
  [
    'with a token',
    'authorization { token: "t0k" }\nmax_payload: 64KB\n',
    { ...plainInfo, auth_required: true, max_payload: 65536 },
  ],
  [
    'with nkey users',
    `authorization { users: [ { nkey: ${nkeyUser.getPublicKey()} } ] }\n`,
    { ...plainInfo, auth_required: true, nonce: '<nonce>' },
  ],
] as const) {
  forEachBroker(
    `raw: INFO ${what} carries the same fields once ids are normalised`,
    async (t, b) => {
      const raw = await RawClient.open(t, b.port);
      assert.ok(await raw.waitFor((s) => s.includes('\r\n')), 'INFO arrives');
      const info = raw.text.slice(0, raw.text.indexOf('\r\n') + 2);
      assert.deepEqual(normaliseInfo(info), expected);
    },
    config === undefined ? {} : { config },
  );
}
