import type { Command } from 'commander';
import { connectClient } from '../client/connect.js';
import { queryInventory } from '../fleet/inventory-client.js';
import { factAt, isEmptyTarget } from '../fleet/target.js';
import type { InventoryRecord } from '../store/inventory.js';
import { withDataDirHint } from './central-client.js';
import { flattenFacts } from './facts.js';
import { noMatchReason } from './no-match.js';
import { checkCols, type Format, renderRows } from './output.js';
import { addTargetOptions, type TargetFlags, targetFromOptions } from './target.js';

const DEFAULT_COLS = ['node', 'state', 'lastSeen', 'hostname', 'os', 'arch', 'cpus', 'tags'];
/** The record's own fields (inventoryRow); every other column is a fact path. */
const OWN_COLS = [
  'node',
  'state',
  'online',
  'lastSeen',
  'firstSeen',
  'lastEvent',
  'central',
  'publicKey',
  'admiralVersion',
  'facts',
];

interface NodesFlags extends TargetFlags {
  broker?: string;
  centralWait?: number;
  dataDir?: string;
  format?: Format;
  cols?: string[];
  online?: boolean;
}

/** One inventory record as a row: its own fields, then any fact by dotted path (`memory.total`). */
export function inventoryRow(r: InventoryRecord, cols: readonly string[]): Record<string, unknown> {
  const own: Record<string, unknown> = {
    node: r.node,
    state: r.online ? 'online' : 'offline',
    online: r.online,
    lastSeen: new Date(r.lastSeen).toISOString(),
    firstSeen: new Date(r.firstSeen).toISOString(),
    lastEvent: r.lastEvent,
    central: r.central,
    publicKey: r.publicKey,
    admiralVersion: r.version,
    facts: r.facts,
  };
  const row: Record<string, unknown> = {};
  for (const c of cols) row[c] = Object.hasOwn(own, c) ? own[c] : factAt(r.facts, c);
  return row;
}

export function registerNodes(program: Command): void {
  addTargetOptions(
    program
      .command('nodes')
      .argument('[target]', 'node names (a,b) or one filter (fact=glob); default every node')
      .description("list the central's inventory: every node seen, online or offline, its facts")
      .option('--online', 'only nodes that are online'),
  ).action(async (positional: string | undefined, _opts: unknown, command: Command) => {
    const opts = command.optsWithGlobals<NodesFlags>();
    const target = targetFromOptions(opts, positional);
    const client = await connectClient({
      ...(opts.broker !== undefined && { broker: opts.broker }),
      ...(opts.dataDir !== undefined && { dataDir: opts.dataDir }),
      ...(opts.centralWait !== undefined && { centralWaitMs: opts.centralWait * 1000 }),
    });
    try {
      const records = await queryInventory(client.nc, client.subjects, {
        identity: client.identity,
        target,
        onlineOnly: opts.online === true,
      });
      const cols = opts.cols ?? DEFAULT_COLS;
      // Any fact a node has is a column too: check against the nodes listed, when there are some.
      if (records.length > 0) {
        const facts = records.flatMap((r) => flattenFacts(r.facts).map(([p]) => p));
        checkCols(cols, [...new Set([...OWN_COLS, ...facts])], 'nodes');
      } else {
        checkCols(
          cols.filter((c) => !c.includes('.')),
          [...OWN_COLS, ...DEFAULT_COLS],
          'nodes',
        );
        if (!isEmptyTarget(target) || opts.online === true) {
          process.stderr.write(`${await noMatchReason(client, target, opts.online === true)}\n`);
        }
      }
      process.stdout.write(
        renderRows(
          records.map((r) => inventoryRow(r, cols)),
          opts.format ?? 'text',
          cols,
        ),
      );
    } catch (err) {
      throw withDataDirHint(err, client, opts.dataDir);
    } finally {
      await client.close();
    }
  });
}
