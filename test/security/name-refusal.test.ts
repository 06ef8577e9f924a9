import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { generateIdentity, signEvent } from '../../src/protocol/index.js';
import { twoNodes } from '../helpers/in-process.js';

// Central tells a newcomer whose name is held by another key that its events are refused
// (adm.evt.<node>.refused, signed by central, naming the refused key), and the newcomer stops.
// Such an event must be fresh: a refusal recorded once (a name clash since resolved with
// `admiral keys forget`) and replayed later must not stop the node.

test('a refusal signed by another key, for another key, or replayed (stale) is ignored; a fresh one from central is taken', async (t) => {
  const { brokerUrl, b } = await twoNodes(t, 'admiral-refused-');
  const central = generateIdentity();
  b.trust.add(central.publicKey, `central ${b.options.central}`);
  const nc = await connect({ servers: brokerUrl });
  t.after(() => nc.close());
  const subject = b.subjects.event('b', 'refused');
  const refusal = (reason: string, at: number): string =>
    JSON.stringify(
      signEvent(subject, { node: 'b', publicKey: b.identity.publicKey, reason, at }, central),
    );
  const forger = generateIdentity();
  nc.publish(
    subject,
    JSON.stringify(
      signEvent(
        subject,
        { node: 'b', publicKey: b.identity.publicKey, reason: 'forged', at: Date.now() },
        forger,
      ),
    ),
  );
  nc.publish(
    subject,
    JSON.stringify(
      signEvent(
        subject,
        { node: 'b', publicKey: forger.publicKey, reason: 'for another key', at: Date.now() },
        central,
      ),
    ),
  );
  nc.publish(subject, refusal('stale: recorded an hour ago', Date.now() - 3_600_000));
  nc.publish(subject, refusal('from the future', Date.now() + 3_600_000));
  nc.publish(subject, refusal('fresh', Date.now()));
  await nc.flush();
  const reason = await Promise.race([
    b.refused,
    new Promise((r) => setTimeout(() => r('timed out'), 5000)),
  ]);
  assert.equal(reason, 'fresh');
});
