import type { Command } from 'commander';
import { renderEffectiveConfig } from '../config/effective.js';
import { flagsFromOptions } from '../config/flags.js';
import { loadConfig } from '../config/load.js';
import { withConfigFlags } from './node.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('configuration');
  withConfigFlags(
    config
      .command('show')
      .description(
        'print the effective configuration, secrets redacted, with where each value came from',
      ),
  ).action((_opts: unknown, command: Command) => {
    const opts = command.optsWithGlobals<Record<string, unknown>>();
    const configFile = typeof opts.config === 'string' ? opts.config : undefined;
    const loaded = loadConfig({ flags: flagsFromOptions(opts), ...(configFile && { configFile }) });
    process.stdout.write(renderEffectiveConfig(loaded));
  });
}
