// The network side: option validation, the loopback rule, TLS, slow consumers, hostile input.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  Broker,
  BrokerConfigError,
  type BrokerOptionsInput,
  InsecureListenError,
  isLoopbackHost,
} from '../../src/broker/index.js';
import { resolveOptions } from '../../src/broker/broker.js';
import { natsClient, startBroker, waitFor } from './harness.js';

const start = (t: TestContext, options: BrokerOptionsInput = {}): Promise<Broker> =>
  startBroker(t, options);

interface Pki {
  ca: string;
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
}

/** A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, via openssl. */
function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'admiral-broker-tls-'));
  try {
    const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    run(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=admiral test CA',
    );
    writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    run('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    run(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '1',
      '-extfile',
      'server.ext',
    );
    run('req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=client');
    run(
      'x509',
      '-req',
      '-in',
      'client.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'client.pem',
      '-days',
      '1',
    );
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    return {
      ca: read('ca.pem'),
      cert: read('server.pem'),
      key: read('server.key'),
      clientCert: read('client.pem'),
      clientKey: read('client.key'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('broker options', () => {
  test('invalid options are a BrokerConfigError naming the option', async () => {
    await assert.rejects(
      Broker.start({ port: 70000 }),
      (err: unknown) =>
        err instanceof BrokerConfigError &&
        err.code === 'ADMIRAL_BROKER_CONFIG' &&
        err.option === 'port',
    );
    await assert.rejects(
      Broker.start({ port: 0, bogus: true } as unknown as BrokerOptionsInput),
      (err: unknown) => err instanceof BrokerConfigError && err.name === 'BrokerConfigError',
    );
    await assert.rejects(
      Broker.start({ port: 0, authorization: { users: [{ nkey: 'not-a-key' }] } }),
      BrokerConfigError,
    );
  });

  test('a non-loopback listener without TLS and auth is refused with a fix in the message', async () => {
    await assert.rejects(Broker.start({ host: '0.0.0.0', port: 0 }), (err: unknown) => {
      assert.ok(err instanceof InsecureListenError);
      assert.equal(err.code, 'ADMIRAL_BROKER_INSECURE_LISTEN');
      assert.match(err.message, /add tls and authorization, or pass --insecure/);
      return true;
    });
    await assert.rejects(
      Broker.start({ host: '0.0.0.0', port: 0, authorization: { token: 't' } }),
      InsecureListenError,
    );
  });

  test('loopback means 127.0.0.0/8, ::1 and localhost', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', 'LOCALHOST', '[::1]'])
      assert.ok(isLoopbackHost(h), h);
    for (const h of ['0.0.0.0', '10.0.0.1', '::', 'example.com', '128.0.0.1'])
      assert.ok(!isLoopbackHost(h), h);
  });

  test('an explicit insecure flag allows any address', async (t) => {
    // Checked without binding: tests listen on loopback only.
    const o = resolveOptions({ host: '0.0.0.0', port: 0, insecure: true });
    assert.equal(o.host, '0.0.0.0');
    assert.equal(o.insecure, true);
    const broker = await start(t, { host: '127.0.0.1', insecure: true });
    assert.ok(broker.port > 0);
  });
});

describe('TLS', () => {
  const pki = makePki();

  test('INFO says tls_required in plain text, then nats.js upgrades and works', async (t) => {
    const broker = await start(t, { tls: { cert: pki.cert, key: pki.key } });
    const nc = await natsClient(broker, { tls: { ca: pki.ca } });
    assert.equal((nc.info as { tls_required?: boolean } | undefined)?.tls_required, true);
    const got: string[] = [];
    nc.subscribe('s', {
      callback: (_e, m) => {
        got.push(m.string());
      },
    });
    nc.publish('s', 'over tls');
    await nc.flush();
    await waitFor(() => got.length === 1, 'tls message');
    assert.deepEqual(got, ['over tls']);
  });

  test('a non-loopback listener with TLS and auth is allowed', () => {
    // Checked without binding: tests listen on loopback only.
    const o = resolveOptions({
      host: '0.0.0.0',
      port: 0,
      tls: { cert: pki.cert, key: pki.key },
      authorization: { token: 't' },
    });
    assert.equal(o.host, '0.0.0.0');
    assert.throws(
      () => resolveOptions({ host: '0.0.0.0', port: 0, tls: { cert: pki.cert, key: pki.key } }),
      InsecureListenError,
    );
  });

  test('tls verify: a client certificate is required', async (t) => {
    const broker = await start(t, {
      tls: { cert: pki.cert, key: pki.key, ca: pki.ca, verify: true },
    });
    const nc = await natsClient(broker, {
      tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey },
    });
    assert.equal((nc.info as { tls_verify?: boolean } | undefined)?.tls_verify, true);
    await nc.flush();
    await assert.rejects(
      (async () => {
        const bad = await connect({ servers: broker.url, tls: { ca: pki.ca }, reconnect: false });
        // Depending on TLS 1.3 timing the refusal may surface on the first round trip.
        await bad.flush();
        await bad.close();
      })(),
    );
  });

  test('a client that never starts the handshake is dropped after the handshake timeout', async (t) => {
    const broker = await start(t, { tls: { cert: pki.cert, key: pki.key, timeout: 0.2 } });
    const s = net.connect(broker.port, '127.0.0.1');
    t.after(() => s.destroy());
    let text = '';
    s.on('data', (d) => {
      text += d.toString('latin1');
    });
    await new Promise((resolve) => s.on('close', resolve));
    assert.match(text, /^INFO .*"tls_required":true.*\r\n$/);
  });
});

describe('slow consumers and hostile clients', () => {
  async function stalledSubscriber(t: TestContext, broker: Broker): Promise<net.Socket> {
    const s = net.connect(broker.port, '127.0.0.1');
    t.after(() => s.destroy());
    s.on('error', () => {});
    await new Promise((r) => s.once('data', r));
    s.pause(); // never read again
    s.write('CONNECT {"verbose":false}\r\nSUB flood 1\r\nPING\r\n');
    await new Promise((r) => setTimeout(r, 50));
    return s;
  }

  async function healthyPair(broker: Broker) {
    const sub = await natsClient(broker);
    const pub = await natsClient(broker);
    let received = 0;
    sub.subscribe('flood', {
      callback: () => {
        received++;
      },
    });
    await sub.flush();
    return { sub, pub, received: () => received };
  }

  /** Publishes 32 KiB messages, paced by the healthy subscriber so only the stalled one lags. */
  async function flood(pub: NatsConnection, count: number, received: () => number): Promise<void> {
    const body = Buffer.alloc(32 * 1024, 1);
    for (let i = 0; i < count; i++) {
      pub.publish('flood', body);
      if (i % 32 === 31) {
        await pub.flush();
        await waitFor(() => received() >= i - 32, 'healthy subscriber to keep up', 10_000);
      }
    }
    await pub.flush();
  }

  test('a subscriber that never reads is closed when its pending output passes maxPending', async (t) => {
    const broker = await start(t, { maxPending: 2 * 1024 * 1024 });
    await stalledSubscriber(t, broker);
    const { pub, received } = await healthyPair(broker);
    await flood(pub, 640, received); // 20 MiB: more than the kernel buffers can absorb
    await waitFor(() => received() === 640, 'healthy subscriber got everything', 10_000);
    await waitFor(() => broker.stats().slowConsumers === 1, 'slow consumer closed');
    assert.equal(broker.stats().connections, 2);
  });

  test('a write blocked past the write deadline closes the client as a slow consumer', async (t) => {
    const broker = await start(t, { writeDeadline: 200 });
    await stalledSubscriber(t, broker);
    const { pub, received } = await healthyPair(broker);
    await flood(pub, 640, received);
    await waitFor(() => received() === 640, 'healthy subscriber got everything', 10_000);
    await waitFor(() => broker.stats().slowConsumers === 1, 'slow consumer closed');
  });

  test('random garbage from many sockets never disturbs a working client', async (t) => {
    const broker = await start(t);
    const nc = await natsClient(broker);
    nc.subscribe('echo', {
      callback: (_e, m) => {
        m.respond(m.data);
      },
    });
    await nc.flush();
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const junk = [
      'PUB foo 5\r\nab',
      'SUB',
      'HPUB x 99 1\r\n',
      'CONNECT {"headers":true}\r\nHPUB x 5 3\r\n',
      'PUB foo 1\r\nxx\r\n',
      `PUB ${'a'.repeat(10000)}`,
    ];
    const sockets: Promise<void>[] = [];
    for (let i = 0; i < 30; i++) {
      sockets.push(
        new Promise<void>((resolve) => {
          const s = net.connect(broker.port, '127.0.0.1');
          s.on('error', () => resolve());
          s.on('close', () => resolve());
          s.once('data', () => {
            const bytes =
              i < junk.length
                ? Buffer.from(junk[i])
                : Buffer.from(Array.from({ length: 1 + (rand() % 2000) }, () => rand() & 0xff));
            s.end(bytes);
          });
        }),
      );
    }
    const r = await nc.request('echo', 'still here', { timeout: 2000 });
    assert.equal(r.string(), 'still here');
    await Promise.all(sockets);
    const again = await nc.request('echo', 'after', { timeout: 2000 });
    assert.equal(again.string(), 'after');
    await waitFor(() => broker.stats().connections === 1, 'garbage sockets gone');
  });
});
