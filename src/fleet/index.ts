import { isAbsolute, join, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import type { NodeExtension } from '../node/extension.js';
import { factsExtension } from './facts.js';
import { liveExtension } from './live.js';

// The duties every node runs for the fleet (facts in hello, answers to `admiral ping`). `admiral up`
// and `admiral node start` pass `fleetExtensions(config)` to every node, central included.

/** The custom facts folder: `factsDir` (relative to the data dir), default `<dataDir>/facts.d`. */
export function factsDirOf(config: Config): string {
  const dataDir = resolve(config.dataDir);
  const dir = config.factsDir ?? 'facts.d';
  return isAbsolute(dir) ? dir : join(dataDir, dir);
}

/** The extensions every node runs, built from its validated config. */
export function fleetExtensions(config: Config): NodeExtension[] {
  if (config.nodeName === undefined) return [];
  const facts = factsExtension({
    node: config.nodeName,
    tags: config.tags,
    factsDir: factsDirOf(config),
  });
  // Live broadcasts (`admiral run --live`) are matched against the same facts.
  return [facts, liveExtension({ facts: () => facts.facts() })];
}
