import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { OutboxState } from '../../src/store/outbox.js';
import { startFleet } from '../helpers/fleet.js';
import { closedTcpPort } from '../helpers/ports.js';
import {
  launchNatsServer,
  type NatsServerHandle,
  requireNatsServer,
} from '../helpers/nats-server.js';

// The broker is not a store: messages live in the nodes' outboxes and inboxes, so a broker that
// restarts in the middle of a stream loses none of them (DESIGN.md, "How a message travels").

const FINAL: readonly OutboxState[] = ['completed', 'failed', 'expired', 'rejected', 'interrupted'];

test('a nats-server restarted mid-stream loses no message: all complete, each executed once', async (t) => {
  const bin = requireNatsServer(t);
  if (bin === undefined) return;
  const port = await closedTcpPort();
  let server: NatsServerHandle | undefined = await launchNatsServer(bin, {
    args: ['-p', String(port)],
  });
  t.after(() => server?.stop());
  assert.equal(server.port, port);
  const fleet = await startFleet(t, { brokerUrl: server.url, nodes: ['ship1', 'ship2'] });

  const sent: { id: string; node: string; token: string }[] = [];
  const TOTAL = 200;
  for (let i = 0; i < TOTAL; i++) {
    if (i === 80) {
      // Mid-stream: the broker goes away and comes back on the same address.
      await server.stop();
      server = undefined;
      await new Promise((r) => setTimeout(r, 1000));
      server = await launchNatsServer(bin, { args: ['-p', String(port)] });
    }
    const node = i % 2 === 0 ? 'ship1' : 'ship2';
    const token = `m${i}`;
    const result = await fleet.send('central', [
      {
        toNode: node,
        method: 'REQCliCommand',
        methodArgs: ['sh', '-c', `echo ${token} >> executions.log`],
        replyMethod: 'REQNone',
        ACKTimeout: 2,
        replyACKTimeout: 2,
        ttl: 120,
      },
    ]);
    assert.deepEqual(result.rejected, []);
    const [id] = result.accepted;
    assert.ok(id);
    sent.push({ id, node, token });
    await new Promise((r) => setTimeout(r, 20));
  }
  for (const s of sent) {
    const rec = await fleet.waitFor('central', s.id, FINAL, 60_000);
    assert.equal(rec.state, 'completed', JSON.stringify(rec));
  }
  const counts = new Map<string, number>();
  for (const node of ['ship1', 'ship2']) {
    const text = await readFile(join(fleet.dir, node, 'executions.log'), 'utf8');
    for (const line of text.split('\n').filter(Boolean)) {
      counts.set(`${node}:${line}`, (counts.get(`${node}:${line}`) ?? 0) + 1);
    }
  }
  const wrong = sent.filter((s) => counts.get(`${s.node}:${s.token}`) !== 1);
  assert.deepEqual(wrong, [], 'every command ran exactly once');
  assert.equal(counts.size, TOTAL);
});

test('a node stopped while its broker is down exits at once instead of waiting for a reconnect', async (t) => {
  const fleet = await startFleet(t, { nodes: ['ship1'] });
  const ship1 = fleet.nodes.get('ship1');
  assert.ok(ship1);
  // The embedded broker lives in central's process (`admiral up`): kill it, then stop the node.
  await fleet.central.kill9();
  const exited = new Promise<number>((resolve) =>
    ship1.child.once('exit', () => resolve(Date.now())),
  );
  const stopped = Date.now();
  ship1.child.kill('SIGTERM');
  const at = await Promise.race([
    exited,
    new Promise<undefined>((r) => setTimeout(() => r(undefined), 10_000).unref()),
  ]);
  assert.ok(at !== undefined, `node still running 10 s after SIGTERM:\n${ship1.output()}`);
  assert.ok(at - stopped < 6000, `exited ${at - stopped} ms after SIGTERM`);
  assert.match(ship1.output(), /shutting down/);
});
