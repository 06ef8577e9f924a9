import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { Broker } from '../../src/broker/index.js';
import { loadConfig } from '../../src/config/load.js';
import { nodeOptionsFromConfig } from '../../src/node/from-config.js';
import { AdmiralNode } from '../../src/node/node.js';
import { silentLogger } from '../../src/observability/logger.js';
import { decodeEnvelope, encodeAck, Subjects } from '../../src/protocol/index.js';

// A request that was delivered (ACKed) but whose result can never come back (the target stopped
// for good after storing it) ends `expired` once its ttl, methodTimeout and the reply's own time
// to live have passed, instead of waiting in `delivered` forever (DESIGN.md: every message ends
// in exactly one terminal state).

async function startNode(name: string, dir: string, url: string): Promise<AdmiralNode> {
  const loaded = loadConfig({
    flags: {
      nodeName: name,
      dataDir: join(dir, name),
      'broker.url': url,
      helloInterval: 0,
      'statusFile.interval': 0,
      'inputs.socket': false,
      'trust.maxClockSkew': 1,
    },
    env: {},
  });
  return AdmiralNode.start(nodeOptionsFromConfig(loaded.config, silentLogger));
}

async function until<T>(what: string, get: () => T | undefined, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a delivered request whose target never answers ends expired after its answer window', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-unanswered-'));
  const broker = await Broker.start({ host: '127.0.0.1', port: 0 });
  const a = await startNode('a', dir, broker.url);
  // Target b ACKs as a node does once the message is in its inbox, then loses it (its data dir
  // is gone, say): no result will ever come.
  const b = await connect({ servers: broker.url });
  t.after(async () => {
    await b.close();
    await a.close();
    await broker.close();
    await rm(dir, { recursive: true, force: true });
  });
  const subjects = new Subjects();
  b.subscribe(subjects.node('b', 'REQPing'), {
    callback: (_e, m) => {
      m.respond(encodeAck({ ack: decodeEnvelope(m.data).msg.id, status: 'stored' }));
    },
  });
  await b.flush();
  const sent = a.submit(
    JSON.stringify({
      toNode: 'b',
      method: 'REQPing',
      replyMethod: 'REQNone',
      ttl: 1,
      methodTimeout: 1,
    }),
  );
  assert.deepEqual(sent.rejected, []);
  const id = sent.accepted[0]!;
  await until(
    'delivered',
    () => (a.store.outbox.get(id)?.state === 'delivered' ? true : undefined),
    5000,
  );
  const created = a.store.outbox.get(id)!.createdAt;
  // ttl 1 s + skew 1 s + methodTimeout 1 s + 2 × the 1 s window: 5 s after creation.
  const ended = await until(
    'expired',
    () => {
      const r = a.store.outbox.get(id);
      return r?.state === 'expired' ? r : undefined;
    },
    15_000,
  );
  assert.match(ended.error ?? '', /^delivered, but no result came back by /);
  assert.ok((ended.finishedAt ?? 0) >= created + 5000, 'not before the window closed');
  assert.ok((ended.finishedAt ?? 0) < created + 8000, 'soon after it closed');
});
