import type { Command } from 'commander';
import { connectClient } from '../client/connect.js';
import { queryInventory } from '../fleet/inventory-client.js';
import { withDataDirHint } from './central-client.js';
import { CliError } from './errors.js';
import { type Format, renderRows } from './output.js';

interface FactsFlags {
  broker?: string;
  centralWait?: number;
  dataDir?: string;
  format?: Format;
  cols?: string[];
}

/** `{memory: {total: 1}}` → `[['memory.total', 1]]`: the paths `--where` and `--cols` take. */
export function flattenFacts(value: unknown, prefix = ''): [string, unknown][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix !== '') return [[prefix, {}]];
    return entries.flatMap(([k, v]) => flattenFacts(v, prefix === '' ? k : `${prefix}.${k}`));
  }
  return [[prefix, value]];
}

export function registerFacts(program: Command): void {
  program
    .command('facts')
    .argument('<node>', 'the node')
    .description("show a node's facts as the central's inventory last heard them (its last hello)")
    .action(async (node: string, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<FactsFlags>();
      const client = await connectClient({
        ...(opts.broker !== undefined && { broker: opts.broker }),
        ...(opts.dataDir !== undefined && { dataDir: opts.dataDir }),
        ...(opts.centralWait !== undefined && { centralWaitMs: opts.centralWait * 1000 }),
      });
      try {
        const [rec] = await queryInventory(client.nc, client.subjects, {
          identity: client.identity,
          target: { nodes: [node] },
        });
        if (rec === undefined || rec.node !== node) {
          throw new CliError(
            `node ${node} is not in the inventory (has it said hello to central ${client.central}?)`,
          );
        }
        const format = opts.format ?? 'text';
        if (format === 'json' && opts.cols === undefined) {
          process.stdout.write(`${JSON.stringify(rec.facts, null, 2)}\n`);
          return;
        }
        const rows = flattenFacts(rec.facts).map(([fact, value]) => ({ fact, value }));
        process.stdout.write(
          renderRows(rows, format, opts.cols ?? ['fact', 'value'], ['fact', 'value']),
        );
      } catch (err) {
        throw withDataDirHint(err, client, opts.dataDir);
      } finally {
        await client.close();
      }
    });
}
