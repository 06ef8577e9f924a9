import type { AdmiralClient } from '../client/connect.js';
import { queryInventory } from '../fleet/inventory-client.js';
import { EXIT_CODES } from '../fleet/job-view.js';
import { factAt, formatFilter, isEmptyTarget, matches, type Target } from '../fleet/target.js';
import { closestNames } from '../protocol/methods.js';
import type { InventoryRecord } from '../store/inventory.js';
import { CliError } from './errors.js';
import { flattenFacts } from './facts.js';

// Why a target matched no node, for `run`, `ping` and `nodes`: how many nodes were considered,
// which part of the target removed the last of them, facts no node has (with the nearest ones).

const nearest = (word: string, known: readonly string[]): string => {
  const near = closestNames(word, known, 1)[0];
  return near === undefined ? '' : ` (did you mean ${near}?)`;
};

/** The explanation, one clause a line; pure, for tests. */
export function explainNoMatch(
  target: Target,
  inventory: readonly InventoryRecord[],
  onlineOnly = false,
): string {
  const lines = [`the target matched no node: ${inventory.length} nodes considered`];
  let left = inventory;
  if (target.nodes !== undefined) {
    const names = inventory.map((r) => r.node);
    const unknown = target.nodes.filter((n) => !names.includes(n));
    for (const n of unknown) lines.push(`no node is named ${n}${nearest(n, names)}`);
    left = left.filter((r) => target.nodes!.includes(r.node));
    if (left.length === 0 && unknown.length === 0) lines.push('none of the named nodes is known');
  }
  const facts = [...new Set(inventory.flatMap((r) => flattenFacts(r.facts).map(([p]) => p)))];
  for (const f of target.where ?? []) {
    const before = left.length;
    left = left.filter((r) => matches([f], r.facts));
    if (!inventory.some((r) => factAt(r.facts, f.fact) !== undefined)) {
      lines.push(`no node has a fact ${f.fact}${nearest(f.fact, facts)}`);
    } else if (before > 0 && left.length === 0) {
      lines.push(`the filter ${formatFilter(f)} removed the last ${before}`);
    }
  }
  if (onlineOnly && left.length > 0 && left.every((r) => !r.online)) {
    lines.push(`--online removed the last ${left.length}: ${left.map((r) => r.node).join(', ')}`);
  }
  return lines.join('\n  ');
}

/** explainNoMatch against central's whole inventory; a shorter line when central cannot say. */
export async function noMatchReason(
  client: AdmiralClient,
  target: Target,
  onlineOnly = false,
): Promise<string> {
  try {
    const all = await queryInventory(client.nc, client.subjects, {
      identity: client.identity,
      target: { all: true },
    });
    return explainNoMatch(target, all, onlineOnly);
  } catch {
    return 'the target matched no node';
  }
}

/** `--online`: the target narrowed to the nodes the inventory sees online now, by name. */
export async function narrowToOnline(client: AdmiralClient, target: Target): Promise<Target> {
  const records = await queryInventory(client.nc, client.subjects, {
    identity: client.identity,
    target: isEmptyTarget(target) ? { all: true } : target,
    onlineOnly: true,
  });
  if (records.length === 0) {
    throw new CliError(await noMatchReason(client, target, true), EXIT_CODES.noNodes);
  }
  return { nodes: records.map((r) => r.node) };
}
