import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from './errors.js';
import { localDataDir, submitToSocket } from './system.js';

function readInput(file: string): Buffer {
  try {
    return file === '-' ? readFileSync(0) : readFileSync(file);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, 1, { cause: err });
  }
}

export function registerSend(program: Command): void {
  program
    .command('send')
    .description("send messages (Steward's JSON array, one object, or YAML) through the local node")
    .argument('<file>', 'message file, or - for standard input')
    .action(async (file: string, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ dataDir?: string }>();
      const result = await submitToSocket(localDataDir(opts.dataDir), readInput(file));
      for (const id of result.accepted) process.stdout.write(`${id}\n`);
      // A batch sent again: what was already taken is named with where it stands, not resent.
      for (const d of result.duplicates ?? []) {
        process.stderr.write(`message ${d.id} was already sent, not sent again: ${d.state}\n`);
      }
      for (const r of result.rejected) {
        process.stderr.write(`message ${r.index} rejected: ${r.errors.join('; ')}\n`);
      }
      if (result.rejected.length > 0) process.exitCode = 1;
    });
}
