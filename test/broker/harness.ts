// Test harness for broker tests: a broker on port 0 whose clients are closed before it is,
// so teardown never races a client against a closing server.
import type { TestContext } from 'node:test';
import { type ConnectionOptions, connect, type NatsConnection } from '@nats-io/transport-node';
import { Broker, type BrokerOptionsInput } from '../../src/broker/index.js';

const clientsOf = new WeakMap<Broker, NatsConnection[]>();

export async function startBroker(
  t: TestContext,
  options: BrokerOptionsInput = {},
): Promise<Broker> {
  const broker = await Broker.start({ port: 0, ...options });
  const clients: NatsConnection[] = [];
  clientsOf.set(broker, clients);
  t.after(async () => {
    await Promise.all(clients.map((nc) => nc.close().catch(() => {})));
    await broker.close();
  });
  return broker;
}

/** A nats.js client of `broker`, closed at the end of the test before the broker. */
export async function natsClient(
  broker: Broker,
  extra: Partial<ConnectionOptions> = {},
): Promise<NatsConnection> {
  const nc = await connect({ servers: broker.url, reconnect: false, ...extra });
  clientsOf.get(broker)?.push(nc);
  return nc;
}

export async function waitFor(pred: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
