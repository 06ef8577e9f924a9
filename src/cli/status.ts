import { join } from 'node:path';
import type { Command } from 'commander';
import { checkStatusFile } from '../observability/status-file.js';
import { parseDuration } from './duration.js';
import { CliError } from './errors.js';
import { localDataDir } from './system.js';

interface StatusFlags {
  statusFile?: string;
  dataDir?: string;
  messageSince?: number;
  maxAge?: number;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("check a node's status file; exits non-zero when the node is unhealthy")
    .option(
      '--status-file <file>',
      'the status file the node writes (default <data-dir>/status.json)',
    )
    .option(
      '--message-since <duration>',
      'unhealthy without a message received this recently',
      parseDuration,
    )
    .option('--max-age <duration>', 'unhealthy when the file is older than this', parseDuration)
    .action((_opts: unknown, command: Command) => {
      const flags = command.optsWithGlobals<StatusFlags>();
      const file = flags.statusFile ?? join(localDataDir(flags.dataDir), 'status.json');
      const problems = checkStatusFile(file, {
        ...(flags.messageSince !== undefined && { messageSince: flags.messageSince }),
        ...(flags.maxAge !== undefined && { maxAge: flags.maxAge }),
      });
      if (problems.length > 0) throw new CliError(problems.join('\n'));
      process.stdout.write(`${file} OK\n`);
    });
}
