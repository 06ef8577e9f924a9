import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { Broker } from '../../src/broker/index.js';
import { loadConfig } from '../../src/config/load.js';
import { nodeOptionsFromConfig } from '../../src/node/from-config.js';
import { AdmiralNode } from '../../src/node/node.js';
import { silentLogger } from '../../src/observability/logger.js';
import { closedTcpPort } from '../helpers/ports.js';

// The node's inputs besides the unix socket (DESIGN.md, "How a message travels": operator ──►
// input): TCP (Steward's `nc host port < msg.json`), HTTP (POST a JSON array, with the node's
// bearer token) and a watched folder. Each answers with the ids it accepted and the errors for
// what it rejected, and what it accepts is in the outbox.

const GOOD = { toNode: 'central', method: 'REQPing', replyMethod: 'REQNone' };
const BAD = { toNode: 'central', method: 'REQNope' };

async function startNode(
  t: TestContext,
  flags: Record<string, unknown>,
): Promise<{ node: AdmiralNode; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-inputs-'));
  const broker = await Broker.start({ host: '127.0.0.1', port: 0 });
  t.after(async () => {
    await broker.close();
    await rm(dir, { recursive: true, force: true });
  });
  const loaded = loadConfig({
    flags: {
      nodeName: 'n1',
      dataDir: join(dir, 'n1'),
      'broker.url': broker.url,
      helloInterval: 0,
      'statusFile.interval': 0,
      'inputs.socket': false,
      ...flags,
    },
    env: {},
  });
  const node = await AdmiralNode.start(nodeOptionsFromConfig(loaded.config, silentLogger));
  t.after(() => node.close());
  return { node, dir };
}

function tcpSend(address: string, text: string): Promise<string> {
  const [host, port] = [address.slice(0, address.lastIndexOf(':')), address.split(':').pop()];
  return new Promise((resolve, reject) => {
    let out = '';
    const s = tcpConnect({ host, port: Number(port) }, () => s.end(text));
    s.on('data', (d: Buffer) => {
      out += d.toString();
    });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

test('the TCP input takes a JSON array as nc sends it and answers with ids and errors', async (t) => {
  const port = await closedTcpPort();
  const { node } = await startNode(t, { 'inputs.tcpListen': `127.0.0.1:${port}` });
  const address = node.inputs.find((i) => i.name === 'tcp')?.address;
  assert.equal(address, `127.0.0.1:${port}`);
  const answer = JSON.parse(await tcpSend(address, JSON.stringify([GOOD, BAD]))) as {
    accepted: string[];
    rejected: { index: number; errors: string[] }[];
  };
  assert.equal(answer.accepted.length, 1);
  assert.equal(node.store.outbox.get(answer.accepted[0]!)?.method, 'REQPing');
  assert.equal(answer.rejected[0]?.index, 1);
  assert.match(answer.rejected[0]!.errors.join(), /`method`.*"REQNope"/);
});

test('the TCP input refuses an address other machines could reach, naming the setting', async (t) => {
  await assert.rejects(
    startNode(t, { 'inputs.tcpListen': '0.0.0.0:0' }),
    /Expected `inputs.tcpListen` to be a loopback address .*got "0.0.0.0:0"/,
  );
});

test('the HTTP input needs the node bearer token; with it, it answers with ids and errors', async (t) => {
  const { node, dir } = await startNode(t, { 'inputs.httpListen': '127.0.0.1:0' });
  const base = node.httpServer?.url;
  assert.ok(base);
  const url = `${base}/api/v1/messages`;
  const body = JSON.stringify([GOOD, BAD]);
  const before = node.store.outbox.list().length;

  const none = await fetch(url, { method: 'POST', body });
  assert.equal(none.status, 401);
  assert.match(((await none.json()) as { error: string }).error, /bearer token.*api-token/);
  const wrong = await fetch(url, {
    method: 'POST',
    body,
    headers: { authorization: 'Bearer not-the-token-at-all' },
  });
  assert.equal(wrong.status, 401);
  assert.equal(node.store.outbox.list().length, before, 'nothing taken without the token');

  const token = readFileSync(join(dir, 'n1', 'api-token'), 'utf8').trim();
  const auth = { authorization: `Bearer ${token}` };
  const ok = await fetch(url, { method: 'POST', body, headers: auth });
  assert.equal(ok.status, 200);
  const answer = (await ok.json()) as { accepted: string[]; rejected: { index: number }[] };
  assert.equal(answer.accepted.length, 1);
  assert.equal(node.store.outbox.get(answer.accepted[0]!)?.method, 'REQPing');
  assert.deepEqual(
    answer.rejected.map((r) => r.index),
    [1],
  );
  const allBad = await fetch(url, { method: 'POST', body: JSON.stringify([BAD]), headers: auth });
  assert.equal(allBad.status, 400);
});

test('the watched folder submits dropped files, removes them, and sets rejected ones aside with their errors', async (t) => {
  const { node, dir } = await startNode(t, { 'inputs.watchFolder': 'inbox' });
  const folder = join(dir, 'n1', 'inbox');
  writeFileSync(join(folder, 'good.json'), JSON.stringify([GOOD]));
  writeFileSync(join(folder, 'bad.json'), JSON.stringify([BAD]));
  const deadline = Date.now() + 10_000;
  while (existsSync(join(folder, 'good.json')) || existsSync(join(folder, 'bad.json'))) {
    if (Date.now() > deadline) throw new Error(`files not taken: ${await readdir(folder)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const sent = node.store.outbox.list();
  assert.equal(sent.length, 1);
  assert.equal(sent[0]?.method, 'REQPing');
  const rejected = await readdir(join(folder, 'rejected'));
  assert.ok(rejected.includes('bad.json'), rejected.join());
  const errors = rejected.find((f) => f.startsWith('bad.json') && f.endsWith('.errors.txt'));
  assert.ok(errors, rejected.join());
  assert.match(readFileSync(join(folder, 'rejected', errors), 'utf8'), /REQNope/);
});
