import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
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
import { DEFAULT_DB_FILE } from '../store/db.js';
import { NodeKeyStore } from '../store/node-keys.js';
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
  keys
    .command('known')
    .description(
      'list the key each node is known by here (enrolled, pinned on first contact, or revoked)',
    )
    .action((_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ dataDir?: string; format?: Format }>();
      const { keys: known, close } = openNodeKeys(localDataDir(opts.dataDir));
      try {
        const rows = known.list().map((r) => ({
          node: r.node,
          publicKey: r.publicKey,
          source: r.source,
          updated: new Date(r.updatedAt).toISOString(),
        }));
        process.stdout.write(
          renderRows(rows, opts.format ?? 'text', ['node', 'publicKey', 'source', 'updated']),
        );
      } finally {
        close();
      }
    });
  keys
    .command('forget')
    .description(
      'forget the key a node was pinned with, so its next contact pins its new one (a node set up again under the same name); not for a revoked node: admiral nodes accept',
    )
    .argument('<node>', 'node name')
    .action((node: string, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ dataDir?: string }>();
      const name = nodeNameOption('<node>', node);
      const { keys: known, close } = openNodeKeys(localDataDir(opts.dataDir));
      try {
        const rec = known.get(name);
        if (rec === undefined) throw new CliError(`no key is known for node ${name} here`);
        if (rec.source !== 'pinned') {
          throw new CliError(
            `node ${name}'s key is ${rec.source} by central's enrolment, not pinned; an operator changes it on the central: admiral nodes revoke ${name}, then admiral nodes accept ${name} (or a join token)`,
          );
        }
        known.delete(name);
        process.stdout.write(`forgot ${name}'s key ${rec.publicKey} (${rec.source})\n`);
      } finally {
        close();
      }
    });
}

/** The local node's table of known node keys, writable (the node reads a row again on a mismatch). */
function openNodeKeys(dataDir: string): { keys: NodeKeyStore; close: () => void } {
  const file = join(dataDir, DEFAULT_DB_FILE);
  if (!existsSync(file)) {
    throw new CliError(`no admiral database in ${dataDir}; start a node there first`);
  }
  const db = new Database(file, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return { keys: new NodeKeyStore(db), close: () => db.close() };
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
