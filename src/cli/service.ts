import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { readBackup } from '../central/backups.js';
import { requestCentral } from '../central/client.js';
import { CENTRAL_SERVICES, type ListedService, type ServiceOp } from '../central/wire.js';
import { DEFAULT_DB_FILE, openDatabase } from '../store/db.js';
import { loadConfig } from '../config/load.js';
import { MIGRATIONS } from '../store/schema.js';
import { ServiceStore } from '../store/services.js';
import { formatResult, type GlobalFlags, withClient } from './central-client.js';
import { parseDuration } from './duration.js';
import { CliError } from './errors.js';
import { withJetStreamRegistry } from './state.js';
import { renderRows } from './output.js';

// `admiral service …`: bpclient's key/value service registry on the central (register, replace,
// update, get, delete), plus list, and restore of a registry backup into the local central.

interface ServiceFlags extends GlobalFlags {
  readonly name: string;
  readonly data: string;
  readonly timeout: number;
}

const WRITE_OPS = {
  register: 'Register supplied data to supplied key (fails when it exists)',
  replace: 'Replace data associated with supplied key (creates it when missing)',
  update: 'Update data associated with supplied key (merges JSON objects; creates when missing)',
} as const;

async function call(flags: ServiceFlags, body: Record<string, unknown>): Promise<unknown> {
  const timeoutMs = flags.timeout * 1000;
  return withClient(flags, timeoutMs, (client) =>
    requestCentral(
      client,
      CENTRAL_SERVICES.service,
      { ...body, ...(flags.accessKey !== undefined && { accessKey: flags.accessKey }) },
      timeoutMs,
    ),
  );
}

function withTimeout(cmd: Command): Command {
  return cmd.option(
    '--timeout <duration>',
    'how long to wait to connect and for the answer',
    parseDuration,
    5,
  );
}

export function registerService(program: Command): void {
  const service = program
    .command('service')
    .description('service broker registration and querying (durable key/value store on central)');

  const run =
    (op: ServiceOp, fields: (f: ServiceFlags) => Record<string, unknown>) =>
    async (_opts: unknown, command: Command): Promise<void> => {
      const flags = command.optsWithGlobals<ServiceFlags>();
      const result = await call(flags, { op, ...fields(flags) });
      process.stdout.write(formatResult(result, flags.format));
    };

  for (const [op, description] of Object.entries(WRITE_OPS) as [ServiceOp, string][]) {
    withTimeout(
      service
        .command(op)
        .description(description)
        .requiredOption('--name <name>', 'the key')
        .requiredOption('--data <data>', 'the data: a string, or a JSON object'),
    ).action(run(op, (f) => ({ name: f.name, data: f.data })));
  }
  withTimeout(
    service
      .command('get')
      .description('Return data associated with supplied key')
      .requiredOption('--name <name>', 'the key'),
  ).action(run('get', (f) => ({ name: f.name })));
  withTimeout(
    service
      .command('delete')
      .description('Delete key from service broker (prints nothing, whether or not it existed)')
      .requiredOption('--name <name>', 'the key'),
  ).action(run('delete', (f) => ({ name: f.name })));
  withTimeout(
    service.command('list').description('every name (with --format json, csv…: names and data)'),
  ).action(async (_opts: unknown, command: Command) => {
    const flags = command.optsWithGlobals<ServiceFlags>();
    const rows = (await call(flags, { op: 'list' })) as ListedService[];
    const format = flags.format ?? 'text';
    if (format === 'text' && flags.cols === undefined) {
      process.stdout.write(rows.map((r) => `${r.name}\n`).join(''));
      return;
    }
    process.stdout.write(
      renderRows(
        rows as unknown as Record<string, unknown>[],
        format,
        flags.cols ?? ['name', 'data'],
      ),
    );
  });
  service
    .command('restore')
    .description("replace the local central's registry with a backup (<data-dir>/backups/*.json)")
    .requiredOption('--backup <file>', 'a backup file written by the central')
    .action(async (_opts: unknown, command: Command) => {
      const flags = command.optsWithGlobals<GlobalFlags & { backup: string }>();
      const dataDir = resolve(flags.dataDir ?? process.env.ADMIRAL_DATA_DIR ?? 'admiral-data');
      // Check the file before touching the database: a bad backup changes nothing.
      const entries = readBackup(flags.backup);
      const state = loadConfig({ flags: { dataDir } }).config.central.state;
      if (state.backend === 'jetstream') {
        // The centrals share the registry on JetStream: the backup goes there, not into SQLite.
        const bucket = { replicas: state.replicas, prefix: state.bucketPrefix };
        await withJetStreamRegistry(flags, dataDir, bucket, (r) => r.replaceAll(entries));
        process.stdout.write(`restored ${entries.length} entries from ${flags.backup}\n`);
        return;
      }
      if (!existsSync(join(dataDir, DEFAULT_DB_FILE))) {
        throw new CliError(`no node database in ${dataDir} (give the central's --data-dir)`);
      }
      const database = openDatabase({ dataDir, migrations: MIGRATIONS });
      try {
        new ServiceStore(database.db).replaceAll(entries);
        const n = entries.length;
        process.stdout.write(`restored ${n} entries from ${flags.backup}\n`);
      } finally {
        database.close();
      }
    });
}
