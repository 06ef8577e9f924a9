import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { describe, type TestContext, test } from 'node:test';
import { Broker, type BrokerOptionsInput } from '../../src/broker/index.js';
import { duplexPair } from '../helpers/duplex.js';

/** A raw protocol client over an in-memory pair: send lines, read what the broker wrote. */
class Raw {
  text = '';
  closed = false;
  private waiters: (() => void)[] = [];
  constructor(readonly stream: Duplex) {
    stream.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
      this.wake();
    });
    stream.on('end', () => {
      this.closed = true;
      this.wake();
    });
    stream.on('close', () => {
      this.closed = true;
      this.wake();
    });
    stream.on('error', () => {});
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  send(s: string): void {
    this.stream.write(s);
  }
  /** Waits until the received text (after INFO) satisfies the predicate, or fails after 2 s. */
  async until(
    pred: (body: string, closed: boolean) => boolean,
    what = 'condition',
  ): Promise<string> {
    const deadline = Date.now() + 2000;
    for (;;) {
      if (pred(this.body, this.closed)) return this.body;
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for ${what}; got ${JSON.stringify(this.body)} closed=${this.closed}`,
        );
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50).unref();
      });
    }
  }
  get info(): Record<string, unknown> {
    const line = this.text.slice(0, this.text.indexOf('\r\n'));
    return JSON.parse(line.slice(5)) as Record<string, unknown>;
  }
  get body(): string {
    const i = this.text.indexOf('\r\n');
    return i === -1 ? '' : this.text.slice(i + 2);
  }
  /** Sends, then a PING, and returns everything up to the PONG that answers it. */
  async roundTrip(s: string): Promise<string> {
    const before = this.body.length;
    this.send(s + 'PING\r\n');
    const body = await this.until((b) => b.slice(before).includes('PONG\r\n'), 'PONG');
    return body.slice(before, body.lastIndexOf('PONG\r\n'));
  }
}

async function setup(t: TestContext, options: BrokerOptionsInput = {}) {
  const broker = await Broker.start({ port: 0, ...options });
  t.after(() => broker.close());
  const open = async (connect?: string): Promise<Raw> => {
    const [mine, theirs] = duplexPair();
    broker.handle(theirs, { remoteAddress: '10.0.0.9', remotePort: 5555 });
    const raw = new Raw(mine);
    t.after(() => mine.destroy());
    await raw.until(() => raw.text.includes('\r\n'), 'INFO');
    if (connect !== undefined) await raw.roundTrip(`CONNECT ${connect}\r\n`);
    return raw;
  };
  return { broker, open };
}

const QUIET = '{"verbose":false,"pedantic":false}';

describe('connection', () => {
  test('INFO comes first, on one line, with the fields nats.js needs', async (t) => {
    const { broker, open } = await setup(t);
    const c = await open();
    assert.match(c.text, /^INFO \{.*\} \r\n$/);
    const info = c.info;
    assert.equal(info.server_id, broker.serverId);
    assert.match(String(info.version), /^\d+\.\d+\.\d+$/);
    assert.equal(info.headers, true);
    assert.equal(info.proto, 1);
    assert.equal(info.max_payload, 1024 * 1024);
    assert.equal(info.port, broker.port);
    assert.equal(info.client_ip, '10.0.0.9');
    assert.equal(typeof info.client_id, 'number');
    assert.equal(info.auth_required, undefined);
    const d = await open();
    assert.equal(d.info.client_id, Number(info.client_id) + 1);
  });

  test('before CONNECT, verbose is on: +OK follows SUB, PUB and UNSUB', async (t) => {
    const { open } = await setup(t);
    const c = await open();
    const out = await c.roundTrip('SUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\n');
    assert.equal(out, '+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n+OK\r\n');
  });

  test('a message reaches plain subscribers with its reply subject', async (t) => {
    const { open } = await setup(t);
    const sub = await open(QUIET);
    const pub = await open(QUIET);
    await sub.roundTrip('SUB foo.* 7\r\n');
    await pub.roundTrip('PUB foo.bar r.1 5\r\nhello\r\n');
    await sub.until((b) => b.includes('MSG foo.bar 7 r.1 5\r\nhello\r\n'), 'MSG');
  });

  test('HPUB is delivered as HMSG to a headers client and as MSG without headers to others', async (t) => {
    const { open } = await setup(t);
    const h = await open('{"verbose":false,"headers":true}');
    const plain = await open(QUIET);
    await h.roundTrip('SUB foo 1\r\n');
    await plain.roundTrip('SUB foo 2\r\n');
    await h.roundTrip('HPUB foo 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\n');
    assert.ok(h.body.includes('HMSG foo 1 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\n'));
    await plain.until((b) => b.includes('MSG foo 2 5\r\nhello\r\n'), 'stripped MSG');
  });

  test('echo:false keeps a connection from receiving its own messages', async (t) => {
    const { open } = await setup(t);
    const c = await open('{"verbose":false,"echo":false}');
    const out = await c.roundTrip('SUB foo 1\r\nPUB foo 1\r\nx\r\n');
    assert.equal(out, '');
    const e = await open(QUIET);
    assert.equal(await e.roundTrip('SUB foo 1\r\nPUB foo 1\r\nx\r\n'), 'MSG foo 1 1\r\nx\r\n');
  });

  test('each queue group gets a message once, plain subscribers get it too', async (t) => {
    const { open } = await setup(t);
    const c = await open(QUIET);
    await c.roundTrip('SUB foo q 1\r\nSUB * q 2\r\nSUB foo 3\r\nSUB foo other 4\r\n');
    const out = await c.roundTrip('PUB foo 1\r\nx\r\n');
    const sids = [...out.matchAll(/MSG foo (\d+) 1/g)].map((m) => m[1]).sort();
    assert.equal(sids.length, 3);
    assert.ok(sids.includes('3'));
    assert.ok(sids.includes('4'));
    assert.ok(sids.includes('1') !== sids.includes('2'));
  });

  test('queue members are chosen at random', async (t) => {
    const { open } = await setup(t);
    const c = await open(QUIET);
    await c.roundTrip('SUB foo q 1\r\nSUB foo q 2\r\n');
    let pubs = '';
    for (let i = 0; i < 40; i++) pubs += 'PUB foo 1\r\nx\r\n';
    const out = await c.roundTrip(pubs);
    const one = (out.match(/MSG foo 1 /g) ?? []).length;
    const two = (out.match(/MSG foo 2 /g) ?? []).length;
    assert.equal(one + two, 40);
    assert.ok(one > 0 && two > 0, `${one}/${two}`);
  });

  test('UNSUB with max delivers that many more messages then removes the subscription', async (t) => {
    const { broker, open } = await setup(t);
    const c = await open(QUIET);
    await c.roundTrip('SUB foo 1\r\nPUB foo 1\r\na\r\n');
    // One already delivered: max 3 allows two more.
    const out = await c.roundTrip(
      'UNSUB 1 3\r\nPUB foo 1\r\nb\r\nPUB foo 1\r\nc\r\nPUB foo 1\r\nd\r\n',
    );
    assert.equal(out, 'MSG foo 1 1\r\nb\r\nMSG foo 1 1\r\nc\r\n');
    assert.equal(broker.stats().subscriptions, 0);
  });

  test('UNSUB with a max not above the delivered count removes at once', async (t) => {
    const { open } = await setup(t);
    const c = await open(QUIET);
    await c.roundTrip('SUB foo 1\r\nPUB foo 1\r\na\r\n');
    assert.equal(await c.roundTrip('UNSUB 1 1\r\nPUB foo 1\r\nb\r\n'), '');
  });

  test("a request delivered to nobody gets a 503 on the publisher's reply subscription", async (t) => {
    const { open } = await setup(t);
    const c = await open('{"verbose":false,"headers":true,"no_responders":true}');
    const out = await c.roundTrip('SUB _INBOX.abc.* 9\r\nPUB svc _INBOX.abc.1 0\r\n\r\n');
    assert.equal(out, 'HMSG _INBOX.abc.1 9 16 16\r\nNATS/1.0 503\r\n\r\n\r\n');
    const quiet = await open(QUIET);
    assert.equal(await quiet.roundTrip('SUB _INBOX.x.* 1\r\nPUB svc _INBOX.x.1 0\r\n\r\n'), '');
  });

  test('CONNECT errors: bad protocol, no_responders without headers, malformed JSON', async (t) => {
    const { open } = await setup(t);
    const a = await open();
    a.send('CONNECT {"protocol":2}\r\n');
    assert.equal(await a.until((_b, closed) => closed), "-ERR 'invalid client protocol'\r\n");
    const b = await open();
    b.send('CONNECT {"no_responders":true}\r\n');
    assert.equal(
      await b.until((_b, closed) => closed),
      "-ERR 'no responders requires headers support'\r\n",
    );
    const c = await open();
    c.send('CONNECT {"verbose":"yes"}\r\n');
    assert.equal(await c.until((_b, closed) => closed), '');
    const d = await open();
    d.send('CONNECT {nope\r\n');
    assert.equal(await d.until((_b, closed) => closed), '');
  });

  test('invalid SUB subject and pedantic publish subject are reported without closing', async (t) => {
    const { open } = await setup(t);
    const c = await open('{"verbose":false}');
    assert.equal(await c.roundTrip('SUB foo..bar 1\r\n'), "-ERR 'Invalid Subject'\r\n");
    const out = await c.roundTrip('SUB foo.> 2\r\nPUB foo.* 1\r\nx\r\n');
    assert.equal(out, "-ERR 'Invalid Publish Subject'\r\nMSG foo.* 2 1\r\nx\r\n");
    assert.ok(!c.closed);
  });

  test('runs of identical publishes are framed correctly for every subscription', async (t) => {
    const { open } = await setup(t);
    const c = await open(QUIET);
    await c.roundTrip('SUB a.* 1\r\nSUB a.1 22\r\n');
    const out = await c.roundTrip(
      'PUB a.1 1\r\nx\r\nPUB a.1 1\r\ny\r\nPUB a.2 r 1\r\nz\r\nPUB a.2 r 1\r\nw\r\nPUB a.1 1\r\nv\r\n',
    );
    assert.equal(
      out,
      // Literal matches come before wildcard ones, in nats-server's sublist order.
      'MSG a.1 22 1\r\nx\r\nMSG a.1 1 1\r\nx\r\n' +
        'MSG a.1 22 1\r\ny\r\nMSG a.1 1 1\r\ny\r\n' +
        'MSG a.2 1 r 1\r\nz\r\n' +
        'MSG a.2 1 r 1\r\nw\r\n' +
        'MSG a.1 22 1\r\nv\r\nMSG a.1 1 1\r\nv\r\n',
    );
  });

  test('edge cases match nats-server 2.9.10 byte for byte', async (t) => {
    const { open } = await setup(t);
    const h = await open('{"verbose":false,"headers":true}');
    // A zero header size is a plain message.
    assert.equal(
      await h.roundTrip('SUB foo 1\r\nHPUB foo rep 0 2\r\nhi\r\n'),
      'MSG foo 1 rep 2\r\nhi\r\n',
    );
    const c = await open('{"verbose":false}');
    // Subjects with empty tokens match nothing, even '>'.
    assert.equal(
      await c.roundTrip('SUB > 1\r\nPUB .foo 1\r\nx\r\n'),
      "-ERR 'Invalid Publish Subject'\r\n",
    );
    // The service-import reply prefix is reserved; the gateway one is not, in 2.9.10.
    assert.equal(
      await c.roundTrip('PUB foo _R_.x 1\r\nx\r\n'),
      `-ERR 'Permissions Violation for Publish with Reply of "_R_.x"'\r\n`,
    );
    assert.equal(await c.roundTrip('PUB foo $GNR.x 1\r\nx\r\n'), 'MSG foo 1 $GNR.x 1\r\nx\r\n');
    // CONNECT null is a no-op in Go's JSON decoder.
    const n = await open();
    assert.equal(await n.roundTrip('CONNECT null\r\n'), '+OK\r\n');
  });

  test('protocol errors close with the exact nats-server -ERR', async (t) => {
    const { open } = await setup(t, { maxPayload: 16, maxControlLine: 64 });
    const cases: [string, string][] = [
      ['FOO\r\n', "-ERR 'Unknown Protocol Operation'\r\n"],
      ['PUB foo 3\r\nxxxxx\r\n', "-ERR 'Unknown Protocol Operation'\r\n"],
      ['PUB foo 17\r\n', "-ERR 'Maximum Payload Violation'\r\n"],
      [`SUB ${'x'.repeat(80)} 1\r\n`, "-ERR 'maximum control line exceeded'\r\n"],
      ['PUB foo\r\n', ''],
      ['HPUB foo 2 2\r\n\r\n\r\n', ''],
      ['-ERR oops\r\n', ''],
    ];
    for (const [input, expected] of cases) {
      const c = await open();
      c.send(input);
      assert.equal(await c.until((_b, closed) => closed, input), expected, input);
    }
  });

  test('maximum subscriptions is reported and the connection stays open', async (t) => {
    const { open } = await setup(t, { maxSubscriptions: 1 });
    const c = await open(QUIET);
    assert.equal(
      await c.roundTrip('SUB a 1\r\nSUB b 2\r\n'),
      "-ERR 'maximum subscriptions exceeded'\r\n",
    );
    assert.equal(await c.roundTrip('PUB a 1\r\nx\r\n'), 'MSG a 1 1\r\nx\r\n');
  });

  test('maximum connections: INFO, then the error, then close; the first client stays', async (t) => {
    const broker = await Broker.start({ port: 0, maxConnections: 1 });
    t.after(() => broker.close());
    const [a1, b1] = duplexPair();
    broker.handle(b1);
    const first = new Raw(a1);
    t.after(() => a1.destroy());
    await first.until(() => first.text.includes('\r\n'));
    const [a2, b2] = duplexPair();
    broker.handle(b2);
    const second = new Raw(a2);
    await second.until((_b, closed) => closed, 'refusal');
    assert.match(second.text, /^INFO .*\r\n-ERR 'maximum connections exceeded'\r\n$/);
    assert.ok(!first.closed);
  });

  test('a client that stops answering PINGs is closed as stale', async (t) => {
    const { open } = await setup(t, { pingInterval: 40, maxPingsOut: 2 });
    const c = await open();
    await c.until((_b, closed) => closed, 'stale close');
    assert.equal(c.body, "PING\r\nPING\r\n-ERR 'Stale Connection'\r\n");
  });

  test('a client that answers PINGs stays connected', async (t) => {
    const { open } = await setup(t, { pingInterval: 40, maxPingsOut: 1 });
    const c = await open();
    c.stream.on('data', (d: Buffer) => {
      if (d.toString().includes('PING')) c.send('PONG\r\n');
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!c.closed);
  });

  test('garbage on one connection closes only that connection', async (t) => {
    const { broker, open } = await setup(t);
    const good = await open(QUIET);
    await good.roundTrip('SUB foo 1\r\n');
    for (const junk of [
      '\x00\x01\x02',
      'PUB foo 99999999999999\r\n',
      'SUB\r\n',
      '\r\n\r\n',
      'HPUB',
      '{}',
    ]) {
      const bad = await open();
      bad.send(junk);
      bad.stream.end();
      await bad.until((_b, closed) => closed, JSON.stringify(junk));
    }
    const pub = await open(QUIET);
    await pub.roundTrip('PUB foo 2\r\nok\r\n');
    await good.until((b) => b.includes('MSG foo 1 2\r\nok\r\n'), 'MSG after garbage');
    assert.equal(broker.stats().connections, 2);
  });

  test('stats count connections, subscriptions and messages', async (t) => {
    const { broker, open } = await setup(t);
    const c = await open(QUIET);
    await c.roundTrip('SUB a 1\r\nSUB b 2\r\nPUB a 3\r\nabc\r\nPUB nobody 2\r\nxy\r\n');
    const s = broker.stats();
    assert.equal(s.connections, 1);
    assert.equal(s.totalConnections, 1);
    assert.equal(s.subscriptions, 2);
    assert.equal(s.inMsgs, 2);
    assert.equal(s.inBytes, 5);
    assert.equal(s.outMsgs, 1);
    assert.equal(s.outBytes, 3);
  });

  test('close flushes pending output and ends every client', async (t) => {
    const { broker, open } = await setup(t);
    const c = await open(QUIET);
    c.send('SUB a 1\r\nPUB a 1\r\nz\r\n');
    await c.until((b) => b.includes('MSG a 1 1'), 'MSG');
    await broker.close();
    await c.until((_b, closed) => closed, 'close');
    assert.equal(broker.stats().connections, 0);
  });
});
