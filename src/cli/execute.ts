import type { Command } from 'commander';
import { requestCentral } from '../central/client.js';
import { CENTRAL_SERVICES } from '../central/wire.js';
import { formatResult, type GlobalFlags, withClient } from './central-client.js';
import { parseDuration } from './duration.js';

// `admiral execute --method module.method --data X`: bpclient's execute, a server-side extension
// method run on the central (installed with `admiral install-extension`).

interface ExecuteFlags extends GlobalFlags {
  readonly method: string;
  readonly data: string;
  readonly timeout: number;
}

export function registerExecute(program: Command): void {
  program
    .command('execute')
    .description('execute a custom extension method on the central')
    .requiredOption('--method <module.method>', 'the extension module and method')
    .option('--data <data>', 'argument passed to the method', '')
    .option(
      '--timeout <duration>',
      'how long to wait to connect and for the answer',
      parseDuration,
      30,
    )
    .action(async (_opts: unknown, command: Command) => {
      const flags = command.optsWithGlobals<ExecuteFlags>();
      const timeoutMs = flags.timeout * 1000;
      const result = await withClient(flags, timeoutMs, (client) =>
        requestCentral(
          client,
          CENTRAL_SERVICES.execute,
          {
            method: flags.method,
            data: flags.data,
            ...(flags.accessKey !== undefined && { accessKey: flags.accessKey }),
          },
          timeoutMs,
        ),
      );
      process.stdout.write(formatResult(result, flags.format));
    });
}
