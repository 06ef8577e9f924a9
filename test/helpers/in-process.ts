import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Broker } from '../../src/broker/index.js';
import { loadConfig } from '../../src/config/load.js';
import { nodeOptionsFromConfig } from '../../src/node/from-config.js';
import type { NodeExtension } from '../../src/node/extension.js';
import { AdmiralNode } from '../../src/node/node.js';
import { silentLogger } from '../../src/observability/logger.js';

/**
 * A node in the test's own process (as bench/messaging runs them), data in `<dir>/<name>`: no
 * socket input, no hello or status timers. For tests that look inside a node's store.
 */
export async function startInProcessNode(
  name: string,
  dir: string,
  brokerUrl: string,
  more: {
    readonly flags?: Readonly<Record<string, unknown>>;
    readonly extensions?: NodeExtension[];
  } = {},
): Promise<AdmiralNode> {
  const loaded = loadConfig({
    flags: {
      nodeName: name,
      dataDir: join(dir, name),
      'broker.url': brokerUrl,
      helloInterval: 0,
      'statusFile.interval': 0,
      'inputs.socket': false,
      ...more.flags,
    },
    env: {},
  });
  return AdmiralNode.start({
    ...nodeOptionsFromConfig(loaded.config, silentLogger),
    ...(more.extensions !== undefined && { extensions: more.extensions }),
  });
}

/** Polls `check` every 20 ms until it is true; throws naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Nodes `a` and `b` in this process on an embedded broker, data in a temp dir; all stopped and
 * removed after the test.
 */
export async function twoNodes(
  t: TestContext,
  prefix: string,
): Promise<{ dir: string; brokerUrl: string; a: AdmiralNode; b: AdmiralNode }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const broker = await Broker.start({ host: '127.0.0.1', port: 0 });
  const a = await startInProcessNode('a', dir, broker.url);
  const b = await startInProcessNode('b', dir, broker.url);
  t.after(async () => {
    await a.close();
    await b.close();
    await broker.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, brokerUrl: broker.url, a, b };
}
