import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Broker } from '../broker/index.js';
import { logLine, untilSignal } from './lifecycle.js';
import { parsePort } from './parse.js';

interface UpFlags {
  dataDir: string;
  brokerPort: number;
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start everything on this machine: the embedded broker and the central node')
    .option(
      '--data-dir <dir>',
      'where state is kept',
      process.env.ADMIRAL_DATA_DIR ?? 'admiral-data',
    )
    .option('--broker-port <port>', 'broker TCP port, 0 for any free port', parsePort, 4222)
    .action(async (flags: UpFlags) => {
      const dataDir = resolve(flags.dataDir);
      mkdirSync(dataDir, { recursive: true });
      const broker = await Broker.start({ host: '127.0.0.1', port: flags.brokerPort }, logLine);
      process.stdout.write(`admiral is up\n  broker:   ${broker.url}\n  data dir: ${dataDir}\n`);
      const signal = await untilSignal();
      logLine('info', 'shutting down', { signal });
      await broker.close();
    });
}
