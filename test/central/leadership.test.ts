import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { centralExtensions } from '../../src/central/index.js';
import { loadConfig } from '../../src/config/load.js';
import { nodeOptionsFromConfig } from '../../src/node/from-config.js';
import { AdmiralNode } from '../../src/node/node.js';
import { silentLogger } from '../../src/observability/logger.js';
import { startJetStream } from '../helpers/jetstream.js';

// Two centrals in this process sharing their state on one nats-server with JetStream: the job
// API (HTTP and adm.central.jobs) is the leader's; the standby's says who leads.

const TOKEN = 'a-test-token-of-16-chars-or-more';

async function startCentral(
  t: TestContext,
  dir: string,
  name: string,
  brokerUrl: string,
): Promise<AdmiralNode> {
  const { config } = loadConfig({
    flags: {
      nodeName: name,
      isCentral: true,
      dataDir: join(dir, name),
      'broker.url': brokerUrl,
      helloInterval: 0,
      'statusFile.interval': 0,
      'inputs.socket': false,
      'inputs.httpListen': '127.0.0.1:0',
      'central.http.token': TOKEN,
      'central.discovery.enabled': false,
      'central.state.backend': 'jetstream',
    },
    env: {},
  });
  const node = await AdmiralNode.start({
    ...nodeOptionsFromConfig(config, silentLogger),
    extensions: centralExtensions(config),
  });
  t.after(() => node.close());
  return node;
}

async function jobsApi(node: AdmiralNode): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${node.httpServer!.url}/api/v1/jobs`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  return { status: res.status, body: await res.json() };
}

test("only the leading central serves the job API; the standby's answers 503 naming the leader, and serves once it leads", async (t) => {
  const js = await startJetStream(t);
  if (!js) return;
  const dir = await mkdtemp(join(tmpdir(), 'admiral-leadership-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const a = await startCentral(t, dir, 'central-a', js.url);
  const b = await startCentral(t, dir, 'central-b', js.url);
  assert.equal((await jobsApi(a)).status, 200);
  const standby = await jobsApi(b);
  assert.equal(standby.status, 503);
  assert.deepEqual(standby.body, {
    error: 'this central stands by: central-a leads; ask it',
    leader: 'central-a',
  });
  await a.close();
  const deadline = Date.now() + 5000;
  let after = await jobsApi(b);
  while (after.status !== 200 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    after = await jobsApi(b);
  }
  assert.equal(after.status, 200, JSON.stringify(after.body));
});
