import { join } from 'node:path';
import type { Command } from 'commander';
import { FileTrustStore, loadIdentity } from '../protocol/index.js';
import { CliError } from './errors.js';
import { type Format, parseFormat, renderRows } from './output.js';
import { localDataDir } from './system.js';

const dataDirOption = [
  '--data-dir <dir>',
  'data dir of the node (default ./admiral-data)',
] as const;

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description("this node's signing identity");
  keys
    .command('show')
    .description("print this node's public key (what other nodes put in their trust store)")
    .option(...dataDirOption)
    .action(async (opts: { dataDir?: string }) => {
      const path = join(localDataDir(opts.dataDir), 'identity.seed');
      try {
        process.stdout.write(`${(await loadIdentity(path)).publicKey}\n`);
      } catch (err) {
        throw new CliError(`no identity at ${path}: start the node once to create it`, 1, {
          cause: err,
        });
      }
    });
}

export function registerTrust(program: Command): void {
  const trust = program
    .command('trust')
    .description('keys whose signed messages this node accepts');
  const store = (dataDir?: string): FileTrustStore =>
    new FileTrustStore(join(localDataDir(dataDir), 'trust.json'));
  trust
    .command('add')
    .description('trust a public key (U…) to call privileged methods on this node')
    .argument('<key>', 'public key, as `admiral keys show` prints it on the other node')
    .option('--label <label>', 'a name for the key, e.g. the node it belongs to')
    .option(...dataDirOption)
    .action((key: string, opts: { label?: string; dataDir?: string }) => {
      store(opts.dataDir).add(key, opts.label);
    });
  trust
    .command('remove')
    .description('stop trusting a public key')
    .argument('<key>', 'public key')
    .option(...dataDirOption)
    .action((key: string, opts: { dataDir?: string }) => {
      if (!store(opts.dataDir).remove(key)) throw new CliError(`key ${key} was not trusted`);
    });
  trust
    .command('list')
    .description('list trusted keys')
    .option(...dataDirOption)
    .option('--format <format>', 'text, json, jsonl, csv or csv-noheader', parseFormat, 'text')
    .action((opts: { dataDir?: string; format: Format }) => {
      const rows = store(opts.dataDir)
        .list()
        .map((k) => ({
          key: k.publicKey,
          label: k.label ?? '',
          added: new Date(k.addedAt).toISOString(),
        }));
      process.stdout.write(renderRows(rows, opts.format, ['key', 'label', 'added']));
    });
}
