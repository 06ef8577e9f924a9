import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { RawClient, startBroker } from './brokers.js';

// Feeds the embedded broker valid protocol split at random points and random garbage, then checks
// that it still serves a well-behaved client. Seeded: ADMIRAL_FUZZ_SEED=<n> replays a failure.
// The expected replies to the valid streams are computed from the protocol rules, not recorded.

/** mulberry32: small, fast, good enough to drive a fuzzer reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seed = Number(process.env.ADMIRAL_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const rand = prng(seed);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

function payload(): string {
  const alphabet = 'abc xyz\r\n\t{}"\u00e9';
  let s = '';
  for (let i = int(40); i > 0; i--) s += pick([...alphabet]);
  return s;
}

/** A valid stream for one connection and the bytes the broker must answer with. */
function validStream(prefix: string): { input: string; expect: string } {
  let input = 'CONNECT {"verbose":false,"pedantic":false,"headers":true}\r\n';
  let expect = '';
  const subs = new Map<number, string>(); // sid -> subject
  for (let op = 0; op < 30; op++) {
    const kind = int(5);
    if (kind === 0) {
      const sid = int(5) + 1;
      if (subs.has(sid)) continue;
      const subject = `${prefix}.s${sid}`;
      subs.set(sid, subject);
      input += `SUB ${subject} ${sid}\r\n`;
    } else if (kind === 1) {
      const sid = int(5) + 1;
      if (!subs.delete(sid)) continue;
      input += `UNSUB ${sid}\r\n`;
    } else if (kind === 2) {
      input += 'PING\r\n';
      expect += 'PONG\r\n';
    } else {
      const target = int(5) + 1;
      const subject = `${prefix}.s${target}`;
      const body = Buffer.from(payload(), 'utf8').toString('latin1');
      const reply = rand() < 0.3 ? ` ${prefix}.r${int(9)}` : '';
      const delivered = subs.get(target) === subject;
      if (kind === 3) {
        input += `PUB ${subject}${reply} ${body.length}\r\n${body}\r\n`;
        if (delivered) expect += `MSG ${subject} ${target}${reply} ${body.length}\r\n${body}\r\n`;
      } else {
        const hdr = `NATS/1.0\r\nX-Fuzz: ${int(1000)}\r\n\r\n`;
        const sizes = `${hdr.length} ${hdr.length + body.length}`;
        input += `HPUB ${subject}${reply} ${sizes}\r\n${hdr}${body}\r\n`;
        if (delivered) expect += `HMSG ${subject} ${target}${reply} ${sizes}\r\n${hdr}${body}\r\n`;
      }
    }
  }
  input += 'PING\r\n';
  expect += 'PONG\r\n';
  return { input, expect };
}

function splitRandomly(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    const n = 1 + int(rand() < 0.5 ? 4 : 64);
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

function garbage(): Buffer {
  const kinds = [
    () => Buffer.from(Array.from({ length: 1 + int(300) }, () => int(256))),
    () => Buffer.from(`PUB ${payload()} ${int(5) - 2}\r\n${payload()}\r\n`, 'latin1'),
    () =>
      Buffer.from(`HPUB foo ${int(100)} ${int(100) - 50}\r\nNATS/1.0\r\n${payload()}`, 'latin1'),
    () =>
      Buffer.from(
        `SUB ${pick(['', 'a..b', '>', '*', 'a.>.b', 'x'.repeat(int(6000))])} ${int(3)}\r\n`,
      ),
    () => Buffer.from(`UNSUB ${pick(['', 'x', '-1', '99999999999999999999', '1 -5'])}\r\n`),
    () =>
      Buffer.from(
        `CONNECT ${pick(['{', '{}', 'null', '[]', '{"protocol":"x"}', '{"echo":5}'])}\r\n`,
      ),
    () => Buffer.from(`PUB foo 99999999999999999999999\r\n`),
    () =>
      Buffer.from(
        pick(['\r\n', '\n', '\r', '\0\0\0', 'PING', 'PONG\r\nPONG\r\n', 'MSG a 1 1\r\nx\r\n']),
      ),
  ];
  return Buffer.concat(Array.from({ length: 1 + int(4) }, () => pick(kinds)()));
}

test(
  'the embedded broker survives split valid streams and garbage and still serves clients',
  {
    timeout: 20_000,
  },
  async (t) => {
    t.diagnostic(`fuzz seed ${seed} (replay with ADMIRAL_FUZZ_SEED=${seed})`);
    // ADMIRAL_FUZZ_BROKER=nats-server runs the same streams against the reference broker.
    const kind = process.env.ADMIRAL_FUZZ_BROKER === 'nats-server' ? 'nats-server' : 'embedded';
    const broker = await startBroker(t, kind);
    if (broker === undefined) return;
    const why = `seed ${seed}`;

    // Valid streams split at random points must be answered exactly as if sent whole.
    for (let round = 0; round < 25; round++) {
      const { input, expect } = validStream(`c${round}`);
      const raw = await RawClient.open(t, broker.port);
      assert.ok(await raw.waitFor((s) => s.includes('\r\n')), `INFO (${why})`);
      const infoEnd = raw.text.indexOf('\r\n') + 2;
      for (const chunk of splitRandomly(Buffer.from(input, 'latin1'))) {
        raw.write(chunk);
        if (rand() < 0.2) await new Promise((r) => setImmediate(r));
      }
      const pongs = expect.split('PONG\r\n').length - 1;
      await raw.waitFor((s) => s.slice(infoEnd).split('PONG\r\n').length - 1 >= pongs, 5000);
      assert.equal(
        raw.received.subarray(infoEnd).toString('latin1'),
        expect,
        `round ${round}, ${why}`,
      );
      raw.destroy();
    }

    // Garbage on several connections at once, some cut off mid-frame.
    for (let wave = 0; wave < 6; wave++) {
      const conns = await Promise.all(
        Array.from({ length: 5 }, () => RawClient.open(t, broker.port)),
      );
      for (const c of conns) {
        for (const chunk of splitRandomly(garbage())) c.write(chunk);
      }
      await new Promise((r) => setTimeout(r, 20));
      for (const c of conns) if (rand() < 0.5) c.destroy();
    }

    // Still serving: pub/sub and a request round trip with the official client.
    const nc = await connect({ servers: broker.url, reconnect: false, timeout: 5000 });
    t.after(() => nc.close());
    nc.subscribe('after.fuzz', {
      callback: (_e, m) => {
        m.respond(`ok:${m.string()}`);
      },
    });
    const got: string[] = [];
    nc.subscribe('after.pub', {
      callback: (_e, m) => {
        got.push(m.string());
      },
    });
    nc.publish('after.pub', 'still here');
    await nc.flush();
    assert.deepEqual(got, ['still here'], why);
    const reply = await nc.request('after.fuzz', 'ping', { timeout: 3000 });
    assert.equal(reply.string(), 'ok:ping', why);
  },
);
