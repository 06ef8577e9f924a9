import { join } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import { natsServerUser, nodePermissions } from '../protocol/enrolment.js';
import {
  FileTrustStore,
  isValidNodeName,
  loadIdentity,
  loadOrCreateIdentity,
  Subjects,
} from '../protocol/index.js';
import { CliError } from './errors.js';
import { type Format, renderRows } from './output.js';
import { localDataDir } from './system.js';

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description("this node's signing identity");
  keys
    .command('show')
    .description("print this node's public key (what other nodes put in their trust store)")
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ dataDir?: string }>();
      const path = join(localDataDir(opts.dataDir), 'identity.seed');
      try {
        process.stdout.write(`${(await loadIdentity(path)).publicKey}\n`);
      } catch (err) {
        throw new CliError(`no identity at ${path}: start the node once to create it`, 1, {
          cause: err,
        });
      }
    });
  keys
    .command('nats-user')
    .description(
      "print this node's user for a nats-server `authorization { users = [...] }` block: its nkey (the node's identity; made if missing) and the subjects an admiral node needs, nothing more",
    )
    .option('--name <node>', "the node's name (default: its config's nodeName)")
    .option('--central <node>', "the central's name (default: its config's centralNode)")
    .option('--unrestricted', 'no permissions: for the central and operators')
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{
        dataDir?: string;
        name?: string;
        central?: string;
        unrestricted?: boolean;
      }>();
      const dataDir = localDataDir(opts.dataDir);
      const { config } = loadConfig({ flags: { dataDir } });
      const name = nodeNameOption('--name', opts.name ?? config.nodeName);
      const central = nodeNameOption('--central', opts.central ?? config.centralNode);
      const identity = await loadOrCreateIdentity(join(dataDir, 'identity.seed'));
      const subjects = new Subjects(config.subjectPrefix);
      const user = natsServerUser(
        identity.publicKey,
        opts.unrestricted === true ? undefined : nodePermissions(subjects, name, central),
      );
      const role = opts.unrestricted === true ? 'unrestricted' : `a node; its central: ${central}`;
      process.stdout.write(
        `# ${name} (${role}); connect with --nkey-seed-file ${join(dataDir, 'identity.seed')}\n${JSON.stringify(user, null, 2)}\n`,
      );
    });
}

function nodeNameOption(flag: string, value: string | undefined): string {
  if (value !== undefined && isValidNodeName(value)) return value;
  throw new CliError(
    `${flag}: expected a node name (1 to 64 of A-Z a-z 0-9 _ -), got ${JSON.stringify(value ?? '')}`,
    1,
  );
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
    .action((key: string, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ label?: string; dataDir?: string }>();
      store(opts.dataDir).add(key, opts.label);
    });
  trust
    .command('remove')
    .description('stop trusting a public key')
    .argument('<key>', 'public key')
    .action((key: string, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ dataDir?: string }>();
      if (!store(opts.dataDir).remove(key)) throw new CliError(`key ${key} was not trusted`);
    });
  trust
    .command('list')
    .description('list trusted keys')
    .action((_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{
        dataDir?: string;
        format?: Format;
        cols?: string[];
      }>();
      const rows = store(opts.dataDir)
        .list()
        .map((k) => ({
          key: k.publicKey,
          label: k.label ?? '',
          added: new Date(k.addedAt).toISOString(),
        }));
      process.stdout.write(
        renderRows(rows, opts.format ?? 'text', opts.cols ?? ['key', 'label', 'added']),
      );
    });
}
