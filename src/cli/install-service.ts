import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import type { GlobalFlags } from './central-client.js';
import { CliError } from './errors.js';
import { readUpArgs } from './up-file.js';

// `admiral install-service` / `uninstall-service` (bpbroker's): a systemd unit that runs
// `admiral node start` with this data dir's config (or `admiral up`, for a data dir `up` runs),
// enabled and started where systemd runs.

export const DEFAULT_UNIT_DIR = '/etc/systemd/system';

interface ServiceFlags extends GlobalFlags {
  readonly unitDir: string;
  readonly unitName?: string;
  readonly dryRun?: boolean;
  readonly enable: boolean;
  readonly config?: string;
}

/** Whether systemd is the init system here (its documented test: /run/systemd/system exists). */
function systemdRuns(): boolean {
  return existsSync('/run/systemd/system');
}

/** systemd's quoting for one ExecStart argument. */
function quote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `"${arg.replace(/(["\\])/g, '\\$1')}"`;
}

/**
 * The unit file text that runs this admiral as the node of `dataDir`: `admiral node start`, or
 * `admiral up` with the flags it last started with when `up` runs this data dir (`upArgs`), since
 * `node start` has no embedded broker.
 */
export function unitFile(
  dataDir: string,
  nodeName: string,
  configFile?: string,
  upArgs?: readonly string[],
): string {
  const command = upArgs === undefined ? ['node', 'start'] : ['up', ...upArgs];
  const argv = [
    process.execPath,
    resolve(process.argv[1] ?? 'admiral'),
    ...command,
    '--data-dir',
    dataDir,
    ...(configFile === undefined ? [] : ['--config', configFile]),
  ];
  return [
    '[Unit]',
    upArgs === undefined
      ? `Description=admiral node ${nodeName}`
      : `Description=admiral (embedded broker and central node ${nodeName})`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${argv.map(quote).join(' ')}`,
    `WorkingDirectory=${quote(dataDir)}`,
    'Restart=on-failure',
    'RestartSec=5',
    // SIGTERM is the node's clean shutdown (closes the store, publishes offline).
    'KillSignal=SIGTERM',
    // Only the node: running commands and the spawner helper that records their exit codes
    // outlive a stop, a restart or a crash, and the next start reattaches to them (systemd's
    // default would kill the whole cgroup, so every running command would end interrupted).
    'KillMode=process',
    'TimeoutStopSec=30',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

function systemctl(args: readonly string[]): void {
  try {
    execFileSync('systemctl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? '';
    throw new CliError(`systemctl ${args.join(' ')} failed${stderr ? `: ${stderr}` : ''}`, 1, {
      cause: err,
    });
  }
}

function target(flags: ServiceFlags): { dataDir: string; nodeName: string; unit: string } {
  const dataDir = resolve(flags.dataDir ?? process.env.ADMIRAL_DATA_DIR ?? 'admiral-data');
  const config = loadConfig({
    flags: { dataDir },
    ...(flags.config !== undefined && { configFile: resolve(flags.config) }),
  }).config;
  if (config.nodeName === undefined) {
    throw new CliError(
      `no node in ${dataDir}: start it once with \`admiral node start --name NAME\` (or give --data-dir)`,
    );
  }
  const unit = flags.unitName ?? `admiral-${config.nodeName}.service`;
  return {
    dataDir,
    nodeName: config.nodeName,
    unit: unit.endsWith('.service') ? unit : `${unit}.service`,
  };
}

function common(cmd: Command): Command {
  return cmd
    .option('--unit-dir <dir>', 'where unit files go', DEFAULT_UNIT_DIR)
    .option('--unit-name <name>', 'unit name (default admiral-<node>.service)')
    .option('--no-enable', 'write or remove the file only; do not call systemctl')
    .option('--dry-run', 'print what would be done; change nothing');
}

export function registerInstallService(program: Command): void {
  common(
    program
      .command('install-service')
      .description(
        'write a systemd unit running `admiral node start` (or `admiral up`) for this data dir; enable it',
      )
      .option(
        '--config <file>',
        'config file the service starts with (instead of <data-dir>/config.yaml)',
      ),
  ).action((_opts: unknown, command: Command) => {
    const flags = command.optsWithGlobals<ServiceFlags>();
    const upDir = resolve(flags.dataDir ?? process.env.ADMIRAL_DATA_DIR ?? 'admiral-data');
    let upArgs: string[] | undefined;
    try {
      upArgs = readUpArgs(upDir);
    } catch (err) {
      throw new CliError(`cannot read how \`admiral up\` started here: ${(err as Error).message}`);
    }
    if (upArgs !== undefined && flags.config !== undefined) {
      throw new CliError(
        `${upDir} is run by \`admiral up\`, which reads ${join(upDir, 'config.yaml')} and takes no --config: merge the file in with \`admiral configure --config-file\` instead`,
      );
    }
    const { dataDir, nodeName, unit } = target(flags);
    const text = unitFile(
      dataDir,
      nodeName,
      flags.config === undefined ? undefined : resolve(flags.config),
      upArgs,
    );
    const file = join(resolve(flags.unitDir), unit);
    if (flags.dryRun) {
      process.stdout.write(`# ${file}\n${text}`);
      return;
    }
    mkdirSync(resolve(flags.unitDir), { recursive: true });
    writeFileSync(file, text, { mode: 0o644 });
    if (flags.enable && systemdRuns()) {
      systemctl(['daemon-reload']);
      systemctl(['enable', '--now', unit]);
    } else if (flags.enable) {
      process.stderr.write(`systemd is not running here: ${unit} written, not enabled\n`);
    }
    process.stdout.write(`${file}\n`);
  });
  common(
    program
      .command('uninstall-service')
      .description('stop, disable and remove the systemd unit of this data dir'),
  ).action((_opts: unknown, command: Command) => {
    const flags = command.optsWithGlobals<ServiceFlags>();
    const { unit } = target(flags);
    const file = join(resolve(flags.unitDir), unit);
    if (flags.dryRun) {
      process.stdout.write(`# would disable ${unit} and remove ${file}\n`);
      return;
    }
    if (flags.enable && systemdRuns()) systemctl(['disable', '--now', unit]);
    rmSync(file, { force: true });
    if (flags.enable && systemdRuns()) systemctl(['daemon-reload']);
    process.stdout.write(`${file}\n`);
  });
}
