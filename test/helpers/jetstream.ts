import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer } from './nats-server.js';

// One nats-server with JetStream on a random port, and a connection to it, for one test. Resolves
// to undefined when nats-server is missing and the test was skipped (fails under
// ADMIRAL_REQUIRE_NATS_SERVER=1, see nats-server.ts).

export interface JetStreamServer {
  readonly url: string;
  readonly nc: NatsConnection;
}

export async function startJetStream(t: TestContext): Promise<JetStreamServer | undefined> {
  const storeDir = await mkdtemp(join(tmpdir(), 'admiral-js-'));
  t.after(() => rm(storeDir, { recursive: true, force: true }));
  const server = await startNatsServer(t, { args: ['-js', '-sd', storeDir] });
  if (server === undefined) return undefined;
  const nc = await connect({ servers: server.url, name: 'jetstream-test' });
  t.after(() => nc.close());
  return { url: server.url, nc };
}
