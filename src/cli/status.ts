import type { Command } from 'commander';
import { checkStatusFile } from '../observability/status-file.js';
import { parseDuration } from './duration.js';
import { CliError } from './errors.js';

interface StatusFlags {
  statusFile: string;
  messageSince?: number;
  maxAge?: number;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description("check a node's status file; exits non-zero when the node is unhealthy")
    .requiredOption('--status-file <file>', 'the status file the node writes')
    .option(
      '--message-since <duration>',
      'unhealthy without a message received this recently',
      parseDuration,
    )
    .option('--max-age <duration>', 'unhealthy when the file is older than this', parseDuration)
    .action((flags: StatusFlags) => {
      const problems = checkStatusFile(flags.statusFile, {
        ...(flags.messageSince !== undefined && { messageSince: flags.messageSince }),
        ...(flags.maxAge !== undefined && { maxAge: flags.maxAge }),
      });
      if (problems.length > 0) throw new CliError(problems.join('\n'));
      process.stdout.write(`${flags.statusFile} OK\n`);
    });
}
