import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { nodeOptionsFromConfig } from '../../src/node/from-config.js';
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
): Promise<AdmiralNode> {
  const loaded = loadConfig({
    flags: {
      nodeName: name,
      dataDir: join(dir, name),
      'broker.url': brokerUrl,
      helloInterval: 0,
      'statusFile.interval': 0,
      'inputs.socket': false,
    },
    env: {},
  });
  return AdmiralNode.start(nodeOptionsFromConfig(loaded.config, silentLogger));
}

/** Polls `check` every 20 ms until it is true; throws naming `what` after `timeoutMs`. */
export async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
