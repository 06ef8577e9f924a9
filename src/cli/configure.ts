import { resolve } from 'node:path';
import type { Command } from 'commander';
import { writeDefaultConfigFile } from '../config/default-file.js';
import { mergeEntries, readConfigFile } from '../config/layers.js';
import { validate } from '../config/load.js';
import type { GlobalFlags } from './central-client.js';
import { CliError } from './errors.js';

// `admiral configure --config-file FILE` (bpbroker's configure): merges a JSON (or YAML) config
// into the node's <data-dir>/config.yaml, key by key, keeping what the file already says and its
// comments. The file is checked against the config schema first, errors naming its keys.

export function registerConfigure(program: Command): void {
  program
    .command('configure')
    .description("merge a JSON config file into the node's <data-dir>/config.yaml")
    .requiredOption('--config-file <file>', 'JSON (or YAML) with the keys to set')
    .action((_opts: unknown, command: Command) => {
      const flags = command.optsWithGlobals<GlobalFlags & { configFile: string }>();
      const dataDir = resolve(flags.dataDir ?? process.env.ADMIRAL_DATA_DIR ?? 'admiral-data');
      const entries = readConfigFile(resolve(flags.configFile));
      const { data, origins } = mergeEntries(entries);
      validate(data, origins);
      if (Object.hasOwn(data, 'dataDir')) {
        throw new CliError(
          `${flags.configFile}: dataDir cannot be set in the node's own config file (use --data-dir)`,
        );
      }
      const written = writeDefaultConfigFile(dataDir, data);
      process.stdout.write(`${written.file}\n`);
    });
}
