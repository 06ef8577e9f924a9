import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { connectClient } from '../client/connect.js';
import { loadConfig } from '../config/load.js';
import { DEFAULT_DB_FILE, openDatabase } from '../store/db.js';
import { type JetStreamStateOptions, openBucket } from '../store/jetstream/buckets.js';
import { KvRegistryState } from '../store/jetstream/registry.js';
import { MIGRATIONS } from '../store/schema.js';
import { ServiceStore } from '../store/services.js';
import type { GlobalFlags } from './central-client.js';
import { CliError } from './errors.js';

// `admiral state migrate`: copies a single central's SQLite state into JetStream, so that
// centrals started with `--central-state jetstream` find it (docs/operations.md, "Scaling out").
// The families that live on JetStream today: the service registry.

/**
 * Runs `fn` on the JetStream registry of `--broker` (credentials of `dataDir`, as every client
 * command), with the bucket's replicas and prefix; closes the connection whatever happens.
 */
export async function withJetStreamRegistry<T>(
  flags: GlobalFlags,
  dataDir: string,
  bucket: JetStreamStateOptions,
  fn: (registry: KvRegistryState) => Promise<T>,
): Promise<T> {
  const client = await connectClient({
    ...(flags.broker !== undefined && { broker: flags.broker }),
    dataDir,
  });
  try {
    return await fn(new KvRegistryState(await openBucket(client.nc, 'registry', bucket)));
  } finally {
    await client.close();
  }
}

interface MigrateFlags extends GlobalFlags {
  readonly replicas?: string;
  readonly bucketPrefix?: string;
}

export function registerState(program: Command): void {
  const state = program
    .command('state')
    .description("central's shared state (SQLite or JetStream)");
  state
    .command('migrate')
    .description(
      "copy the local central's SQLite state (service registry) into JetStream KV buckets on --broker",
    )
    .option('--replicas <n>', 'copies of each bucket (1, 3 or 5; default central.state.replicas)')
    .option('--bucket-prefix <prefix>', 'bucket name prefix (default central.state.bucketPrefix)')
    .action(async (_opts: unknown, command: Command) => {
      const flags = command.optsWithGlobals<MigrateFlags>();
      const dataDir = resolve(flags.dataDir ?? process.env.ADMIRAL_DATA_DIR ?? 'admiral-data');
      if (!existsSync(join(dataDir, DEFAULT_DB_FILE))) {
        throw new CliError(`no node database in ${dataDir} (give the central's --data-dir)`);
      }
      // The flags land in the one config validation (replicas 1, 3 or 5; the prefix's charset).
      const { config } = loadConfig({
        flags: {
          dataDir,
          ...(flags.replicas !== undefined && { 'central.state.replicas': Number(flags.replicas) }),
          ...(flags.bucketPrefix !== undefined && {
            'central.state.bucketPrefix': flags.bucketPrefix,
          }),
        },
      });
      const { replicas, bucketPrefix: prefix } = config.central.state;
      const database = openDatabase({ dataDir, migrations: MIGRATIONS });
      let entries;
      try {
        entries = new ServiceStore(database.db).list();
      } finally {
        database.close();
      }
      await withJetStreamRegistry(flags, dataDir, { replicas, prefix }, async (target) => {
        for (const e of entries) await target.put(e);
        process.stdout.write(
          `copied ${entries.length} registry entries into JetStream bucket ${target.kv.bucket} (R${replicas})\n` +
            'start the centrals with --central-state jetstream (central.state.backend: jetstream)\n',
        );
      });
    });
}
