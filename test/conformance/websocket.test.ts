import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { type NatsConnection, wsconnect } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import WebSocket from 'ws';
import { type BrokerUnderTest, forEachBroker } from './brokers.js';

// The WebSocket listener on both brokers, from the same `websocket { port: -1, no_tls: true }`
// config, driven by nats.js's own WebSocket transport (`wsconnect`, as browsers use it).

const WS = 'websocket { port: -1, no_tls: true }\nhttp_port: -1\n';

async function wsConn(t: TestContext, b: BrokerUnderTest, name: string): Promise<NatsConnection> {
  assert.ok(b.wsPort, `expected ${b.kind} to report a WebSocket port`);
  const nc = await wsconnect({
    servers: `ws://127.0.0.1:${b.wsPort}`,
    name,
    reconnect: false,
    timeout: 5000,
    // Node 20 has no global WebSocket: hand nats.js the ws package's, which has the same API.
    wsFactory: (url: string) =>
      Promise.resolve({ socket: new WebSocket(url) as unknown as never, encrypted: false }),
  });
  t.after(() => nc.close());
  return nc;
}

forEachBroker(
  'a nats.js WebSocket client publishes, subscribes and requests, and meets TCP clients',
  async (t, b) => {
    const ws = await wsConn(t, b, 'browser');
    const tcp = await connect({ servers: b.url, reconnect: false });
    t.after(() => tcp.close());
    assert.equal(ws.info?.headers, true);
    assert.equal(ws.info?.server_id, tcp.info?.server_id);

    const fromWs: string[] = [];
    tcp.subscribe('ws.to.tcp', { callback: (_e, m) => void fromWs.push(m.string()) });
    const fromTcp: string[] = [];
    ws.subscribe('tcp.to.ws', { callback: (_e, m) => void fromTcp.push(m.string()) });
    tcp.subscribe('svc.echo', { callback: (_e, m) => void m.respond(`echo ${m.string()}`) });
    await tcp.flush();
    await ws.flush();

    ws.publish('ws.to.tcp', 'hello from ws');
    await ws.flush();
    await tcp.flush();
    tcp.publish('tcp.to.ws', 'hello from tcp');
    await tcp.flush();
    await ws.flush();
    assert.deepEqual(fromWs, ['hello from ws']);
    assert.deepEqual(fromTcp, ['hello from tcp']);
    const reply = await ws.request('svc.echo', 'x'.repeat(70_000), { timeout: 3000 });
    assert.equal(reply.string(), `echo ${'x'.repeat(70_000)}`);

    // /connz tells the two transports apart.
    const connz = (await (await fetch(`${b.monitorUrl}/connz`)).json()) as {
      connections: { name?: string; type: string }[];
    };
    const types = Object.fromEntries(connz.connections.map((c) => [c.name ?? '', c.type]));
    assert.equal(types.browser, 'websocket');
    assert.equal(Object.values(types).filter((x) => x === 'nats').length, 1);
    const varz = (await (await fetch(`${b.monitorUrl}/varz`)).json()) as {
      websocket: Record<string, unknown>;
    };
    assert.equal(varz.websocket.port, b.wsPort);
    assert.equal(varz.websocket.no_tls, true);
  },
  { config: WS },
);

forEachBroker(
  'a raw WebSocket client gets INFO first, in a binary frame, and PONG for its PING',
  async (t, b) => {
    const sock = new WebSocket(`ws://127.0.0.1:${b.wsPort}`);
    t.after(() => sock.terminate());
    const frames: { binary: boolean; text: string }[] = [];
    sock.on('message', (data: Buffer, binary: boolean) =>
      frames.push({ binary, text: data.toString('latin1') }),
    );
    await new Promise<void>((resolve, reject) => {
      sock.once('open', () => resolve());
      sock.once('error', reject);
    });
    const until = async (pred: () => boolean): Promise<void> => {
      for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 20));
    };
    await until(() => frames.length > 0);
    assert.match(frames[0]!.text, /^INFO \{.*\} \r\n$/);
    assert.equal(frames[0]!.binary, true);
    sock.send(Buffer.from('CONNECT {"verbose":false}\r\nPING\r\n'));
    await until(() =>
      frames
        .map((f) => f.text)
        .join('')
        .includes('PONG\r\n'),
    );
    assert.equal(
      frames
        .map((f) => f.text)
        .join('')
        .split('INFO')[1]!
        .split('\r\n')[1],
      'PONG',
    );
  },
  { config: WS },
);

forEachBroker(
  'a WebSocket client publishing over max_payload gets Maximum Payload Violation and is closed',
  async (t, b) => {
    const sock = new WebSocket(`ws://127.0.0.1:${b.wsPort}`);
    t.after(() => sock.terminate());
    let text = '';
    sock.on('message', (data: Buffer) => (text += data.toString('latin1')));
    const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      sock.once('open', () => resolve());
      sock.once('error', reject);
    });
    const size = 1024 * 1024 + 1;
    sock.send(
      Buffer.concat([
        Buffer.from(`CONNECT {"verbose":false}\r\nPUB big ${size}\r\n`),
        Buffer.alloc(size, 0x61),
        Buffer.from('\r\n'),
      ]),
    );
    await closed;
    assert.ok(text.endsWith("-ERR 'Maximum Payload Violation'\r\n"), text.slice(-200));
  },
  { config: WS },
);
