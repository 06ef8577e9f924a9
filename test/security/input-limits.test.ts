import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import type { SubmitResult } from '../../src/node/inputs/types.js';
import { closedTcpPort } from '../helpers/ports.js';
import { type Fleet, type NodeProcess, startFleet } from '../helpers/fleet.js';

// No input can crash a process (DESIGN.md, "Security by default"). Each attack goes to a real
// process through a real input: `admiral up` (node, central and embedded broker in one process)
// and `admiral node start`. Each time the process stays up, answers with an error that names the
// limit, and takes the next good message.

const GOOD = [{ toNode: 'central', method: 'REQPing', replyMethod: 'REQNone' }];
const LIMIT_DEPTH = /nests (?:more than )?\d+ levels deep(?: \(YAML, line \d+\))?; the limit is 64/;

/** `{"a":{"a":…1…}}`, `depth` objects deep. */
function nested(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/** A message whose `previousMessage` (an object admiral carries and signs) nests `depth` deep. */
function deepMessage(depth: number): string {
  return `[{"toNode":"central","method":"REQPing","replyMethod":"REQNone","previousMessage":${nested(depth)}}]`;
}

function alive(proc: NodeProcess): void {
  assert.equal(proc.child.exitCode, null, `the process ended; output:\n${proc.output()}`);
  assert.equal(proc.child.signalCode, null, `the process was killed; output:\n${proc.output()}`);
}

async function goodStillWorks(fleet: Fleet, from: string): Promise<void> {
  const r = await fleet.send(from, GOOD);
  assert.equal(r.accepted.length, 1, JSON.stringify(r));
  await fleet.waitFor(from, r.accepted[0] as string, ['completed']);
}

function oneError(r: SubmitResult): string {
  assert.deepEqual(r.accepted, [], JSON.stringify(r).slice(0, 500));
  assert.equal(r.rejected.length, 1, JSON.stringify(r).slice(0, 500));
  return (r.rejected[0]?.errors ?? []).join('; ');
}

function tcpSend(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const s = tcpConnect({ host: '127.0.0.1', port }, () => s.end(text));
    s.on('data', (d: Buffer) => {
      out += d.toString();
    });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

test('the unix socket of admiral up refuses input past the limits by name and stays up', async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  const { central } = fleet;

  await t.test('a message nested 10,000 deep', async () => {
    const text = deepMessage(10_000);
    assert.ok(text.length < 64 * 1024, `${text.length} bytes`);
    const error = oneError(await fleet.send('central', text));
    assert.match(error, /input nests 10002 levels deep; the limit is 64/);
    alive(central);
  });

  await t.test('YAML nested 3,000 blocks deep', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}- `);
    const text = `- toNode: central\n  method: REQPing\n  methodArgs:\n${lines.join('\n')}x\n`;
    const error = oneError(await fleet.send('central', text));
    assert.match(error, LIMIT_DEPTH);
    alive(central);
  });

  await t.test('an array of 4 million items', async () => {
    const text = `[{"toNode":"central","method":"REQPing","methodArgs":[${'1,'.repeat(4_000_000)}1]}]`;
    const started = Date.now();
    const error = oneError(await fleet.send('central', text));
    assert.match(error, /input has an array of more than 100000 items; the limit is 100000/);
    assert.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms`);
    alive(central);
  });

  await t.test('an array of 50,000 wrong items is answered in a few sentences', async () => {
    const text = `[{"toNode":"central","method":"REQPing","methodArgs":[${'1,'.repeat(49_999)}1]}]`;
    const r = await fleet.send('central', text);
    const errors = r.rejected[0]?.errors ?? [];
    assert.equal(errors.length, 21, errors.slice(0, 3).join('\n'));
    assert.match(errors[0] ?? '', /Expected `methodArgs\[0\]` to be a string, got `1` \(number\)/);
    assert.equal(errors[20], '... 49980 more problems not shown');
  });

  await t.test('a method name of 8 million characters', async () => {
    const text = JSON.stringify([{ toNode: 'central', method: 'Q'.repeat(8_000_000) }]);
    const started = Date.now();
    const error = oneError(await fleet.send('central', text));
    assert.match(error, /Expected `method` to be a known method name/);
    assert.ok(Date.now() - started < 5000, `answered in ${Date.now() - started} ms`);
    alive(central);
  });

  await t.test('an object key of 100,000 characters', async () => {
    const text = JSON.stringify([{ ...GOOD[0], ['k'.repeat(100_000)]: 1 }]);
    const error = oneError(await fleet.send('central', text));
    assert.match(error, /input has an object key of 100000 characters; the limit is 1024/);
  });

  await t.test("central's HTTP job API answers a body nested 10,000 deep with 400", async () => {
    const url = /http:\s+(http:\/\/\S+)/.exec(central.output())?.[1];
    assert.ok(url, central.output());
    const token = readFileSync(join(central.dataDir, 'api-token'), 'utf8').trim();
    const res = await fetch(`${url}/api/v1/jobs`, {
      method: 'POST',
      body: `{"method":"REQPing","targets":["central"],"extra":${nested(10_000)}}`,
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 400);
    assert.match(
      ((await res.json()) as { error: string }).error,
      /^request nests 10001 levels deep; the limit is 64$/,
    );
    alive(central);
  });

  await t.test('the next good message is taken and runs', () => goodStillWorks(fleet, 'central'));
});

test('the TCP, HTTP and folder inputs of a node refuse a message nested 10,000 deep, and the node takes the next one', async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  const port = await closedTcpPort();
  const ship = await fleet.startNode('ship1', [], {
    ADMIRAL_INPUTS__TCP_LISTEN: `127.0.0.1:${port}`,
    ADMIRAL_INPUTS__HTTP_LISTEN: '127.0.0.1:0',
    ADMIRAL_INPUTS__WATCH_FOLDER: 'drop',
  });
  const url = /http:\s+(http:\/\/\S+)/.exec(ship.output())?.[1];
  assert.ok(url, ship.output());
  const token = readFileSync(join(ship.dataDir, 'api-token'), 'utf8').trim();
  const text = deepMessage(10_000).replace('"toNode":"central"', '"toNode":"ship1"');

  const tcp = JSON.parse(await tcpSend(port, text)) as SubmitResult;
  assert.match(oneError(tcp), /input nests 10002 levels deep; the limit is 64/);
  alive(ship);

  const res = await fetch(`${url}/api/v1/messages`, {
    method: 'POST',
    body: text,
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 400);
  assert.match(oneError((await res.json()) as SubmitResult), /input nests 10002 levels deep/);
  alive(ship);

  const folder = join(ship.dataDir, 'drop');
  writeFileSync(join(folder, 'deep.json'), text);
  const errorsFile = join(folder, 'rejected', 'deep.json.errors.txt');
  const deadline = Date.now() + 10_000;
  while (!existsSync(errorsFile)) {
    alive(ship);
    assert.ok(Date.now() < deadline, `deep.json not set aside; output:\n${ship.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(readFileSync(errorsFile, 'utf8'), /^message 0: input nests 10002 levels deep/);
  alive(ship);

  const after = JSON.parse(await tcpSend(port, JSON.stringify(GOOD))) as SubmitResult;
  assert.equal(after.accepted.length, 1, JSON.stringify(after));
  await fleet.waitFor('ship1', after.accepted[0] as string, ['completed']);
});

test('raw NATS messages nested 10,000 deep to a node and to central services leave admiral up running', async (t) => {
  const fleet = await startFleet(t, { nodes: [] });
  const { central } = fleet;
  const nc = await connect({ servers: fleet.brokerUrl });
  t.after(() => nc.close());
  const deep = nested(10_000);

  // A node's own subject: no id to ACK, so the refusal is in the node's log.
  nc.publish('adm.node.central.REQPing', deepMessage(10_000).slice(1, -1));
  await nc.flush();

  // Central's request/reply services answer each one with the limit.
  const signed = (service: string): string =>
    `{"v":1,"id":"0190d5a0-0000-7000-8000-000000000000","service":"${service}","createdAt":${Date.now()},"expiresAt":${Date.now() + 60_000},"signer":"U","sig":"x","body":${deep}}`;
  const requests: [string, string][] = [
    ['adm.central.jobs', signed('jobs')],
    ['adm.central.inventory', signed('inventory')],
    ['adm.central.ping', `{"data":"x","extra":${deep}}`],
    ['adm.central.service', `{"op":"list","extra":${deep}}`],
    ['adm.central.execute', `{"method":"m.f","data":"x","extra":${deep}}`],
  ];
  for (const [subject, body] of requests) {
    const reply = await nc.request(subject, body, { timeout: 5000 });
    assert.match(reply.string(), /nests 10001 levels deep; the limit is 64/, subject);
    alive(central);
  }

  // Registry data that parses as an object is kept, merged and served parsed: refused past a limit.
  const data = JSON.stringify(`{"a":${nested(10_000)}}`);
  const register = await nc.request(
    'adm.central.service',
    `{"op":"register","name":"deep","data":${data}}`,
    { timeout: 5000 },
  );
  assert.match(register.string(), /service data nests 10001 levels deep; the limit is 64/);
  const list = await nc.request('adm.central.service', '{"op":"list"}', { timeout: 5000 });
  assert.deepEqual(list.json(), { ok: true, result: [] });
  alive(central);

  // The fleet-wide ping (`admiral ping`) is answered by every node: not by one that cannot read it.
  for (const body of ['null', '[1]', `{"where":${deep}}`, `{"nodes":${deep}}`]) {
    await assert.rejects(nc.request('adm.ping', body, { timeout: 300 }), /timeout/i, body);
    alive(central);
  }
  const pong = await nc.request('adm.ping', '{"nodes":["central"]}', { timeout: 5000 });
  assert.deepEqual(pong.json(), { node: 'central' });

  // Events are not answered; a hello with facts past the limit is not kept, so listing the
  // inventory (which serialises every node's facts) still works.
  nc.publish('adm.evt.ship9.hello', `{"node":"ship9","publicKey":"U","facts":${deep}}`);
  nc.publish('adm.evt.central.online', `{"node":"central","publicKey":"not-a-key","central":true}`);
  await nc.flush();
  const nodes = await fleet.cli(['nodes']);
  assert.equal(nodes.code, 0, nodes.stderr);
  assert.doesNotMatch(nodes.stdout, /ship9/);
  alive(central);

  await goodStillWorks(fleet, 'central');
  assert.match(central.output(), /invalid envelope: message nests 10001 levels deep/);
  assert.match(central.output(), /inventory: event refused.*nests 10001 levels deep/);
});
