import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { generateIdentity, Subjects, signEvent } from '../../src/protocol/index.js';
import { BROKER_KINDS, startBroker } from '../conformance/brokers.js';
import { startFleet } from '../helpers/fleet.js';

// Lifecycle events speak for a node to central's inventory (online, facts, offline): central takes
// them only from the key known for that node, so no other process on the broker can change what
// central believes about a node, nor make a job target it by forged facts.

const subjects = new Subjects();

interface Listed {
  node: string;
  online: boolean;
  publicKey: string;
  facts: Record<string, unknown>;
}

for (const kind of BROKER_KINDS) {
  test(`[${kind}] central's inventory ignores hellos and offline events signed by a key other than the node's`, async (t) => {
    let brokerUrl: string | undefined;
    if (kind === 'nats-server') {
      const broker = await startBroker(t, kind);
      if (broker === undefined) return;
      brokerUrl = broker.url;
    }
    const fleet = await startFleet(t, {
      nodes: ['ship1'],
      nodeArgs: ['--hello-interval', '60'],
      ...(brokerUrl !== undefined && { brokerUrl }),
    });
    const list = async (): Promise<Listed[]> => {
      const r = await fleet.cli([
        '--format',
        'json',
        '--cols',
        'node,online,publicKey,facts',
        'nodes',
        '--data-dir',
        'admiral-data',
      ]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Listed[];
    };
    let ship1: Listed | undefined;
    const deadline = Date.now() + 15_000;
    while (ship1 === undefined && Date.now() < deadline) {
      ship1 = (await list()).find((n) => n.node === 'ship1' && n.online);
      if (ship1 === undefined) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(ship1, 'ship1 is online in the inventory');

    const nc = await connect({ servers: fleet.brokerUrl });
    t.after(() => nc.close());
    const mallory = generateIdentity();
    const forge = (event: 'hello' | 'offline' | 'online', extra: Record<string, unknown>) => {
      const subject = subjects.event('ship1', event);
      const body = { node: 'ship1', central: false, version: '0.1.0', at: Date.now(), ...extra };
      nc.publish(subject, JSON.stringify(signEvent(subject, body, mallory)));
    };
    // Signed by another key, naming that key (as a second process with the same name would) …
    forge('hello', { publicKey: mallory.publicKey, facts: { tags: ['pwned'] } });
    // … or naming ship1's real key while signed by another (a forgery).
    forge('offline', { publicKey: ship1.publicKey });
    // Unsigned, as events were before.
    nc.publish(
      subjects.event('ship1', 'offline'),
      JSON.stringify({ node: 'ship1', publicKey: ship1.publicKey, at: Date.now() }),
    );
    await nc.flush();
    await new Promise((r) => setTimeout(r, 1000));
    const after = (await list()).find((n) => n.node === 'ship1');
    assert.equal(after?.online, true, 'a forged offline event took ship1 offline');
    assert.equal(after?.publicKey, ship1.publicKey);
    assert.deepEqual(after?.facts.tags ?? [], ship1.facts.tags ?? []);
    assert.match(fleet.central.output(), /event rejected[\s\S]*ship1/);
  });
}
