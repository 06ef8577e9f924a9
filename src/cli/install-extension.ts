import { resolve } from 'node:path';
import type { Command } from 'commander';
import { brokerServicesOptions } from '../central/broker-services.js';
import { installExtension } from '../central/extensions.js';
import { loadConfig } from '../config/load.js';
import type { GlobalFlags } from './central-client.js';

// `admiral install-extension FILE` (bpbroker's): installs a JS module into the local central's
// extensions folder after loading it once in a child process; prints the methods it adds.

export function registerInstallExtension(program: Command): void {
  program
    .command('install-extension')
    .description("install a JS extension module into the local central's extensions folder")
    .argument('<file>', 'the module (.mjs, .js as an ES module, or .cjs)')
    .action(async (file: string, _opts: unknown, command: Command) => {
      const flags = command.optsWithGlobals<GlobalFlags>();
      const dataDir = resolve(flags.dataDir ?? process.env.ADMIRAL_DATA_DIR ?? 'admiral-data');
      const { extensions } = brokerServicesOptions(loadConfig({ flags: { dataDir } }).config);
      const installed = await installExtension(resolve(file), extensions.dir, extensions);
      process.stdout.write(installed.methods.map((m) => `${installed.module}.${m}\n`).join(''));
    });
}
