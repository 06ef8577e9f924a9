import type { Command } from 'commander';
import { parseDuration } from './duration.js';
import { CliError } from './errors.js';
import { runPingEcho } from './ping-echo.js';

// `admiral ping --data X`: bpclient's end-to-end echo through the central (ping-echo.ts).
// `admiral ping TARGET` pings nodes: the fleet commands provide it in this file.

interface PingFlags {
  broker?: string;
  dataDir?: string;
  timeout: number;
  data?: string;
}

export function registerPing(program: Command): void {
  program
    .command('ping')
    .argument('[target]', 'node(s) to ping (fleet commands)')
    .description('check end to end: --data TEXT is echoed by the central through the broker')
    .option(
      '--timeout <duration>',
      'how long to wait to connect and for the answer',
      parseDuration,
      5,
    )
    .option('--data <text>', "echo TEXT through the central's broker services (bpclient ping)")
    .action(async (target: string | undefined, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<PingFlags>();
      if (opts.data !== undefined) {
        await runPingEcho(opts, opts.data, opts.timeout);
        return;
      }
      if (target !== undefined) throw new CliError('ping with a target needs the fleet commands');
      throw new CliError('ping needs --data TEXT (an echo through the central) or a target node');
    });
}
