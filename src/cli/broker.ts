import type { Command } from 'commander';
import { loadBrokerConfigFile } from '../broker/conf.js';
import { Broker, type BrokerOptionsInput } from '../broker/index.js';
import { logLine, untilSignal } from './lifecycle.js';
import { stderrLogger } from './logger.js';
import { parsePort } from './parse.js';

interface BrokerStartFlags {
  host?: string;
  port?: number;
  config?: string;
  insecure?: boolean;
  logLevel: string;
}

export function registerBroker(program: Command): void {
  const broker = program.command('broker').description('run the embedded NATS-protocol broker');
  broker
    .command('start')
    .description('start the embedded broker and serve until SIGINT/SIGTERM')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--port <port>', 'TCP port, 0 for any free port (default 4222)', parsePort)
    .option('--config <file>', 'nats-server style config file (.conf, .json or .yaml)')
    .option('--insecure', 'allow a non-loopback listener without TLS and auth')
    .option('--log-level <level>', 'debug, info, warn, error or silent', 'info')
    .action(async (flags: BrokerStartFlags) => {
      const fromFile: BrokerOptionsInput = flags.config
        ? await loadBrokerConfigFile(flags.config)
        : {};
      const options: BrokerOptionsInput = {
        ...fromFile,
        ...(flags.host !== undefined && { host: flags.host }),
        ...(flags.port !== undefined && { port: flags.port }),
        ...(flags.insecure !== undefined && { insecure: flags.insecure }),
      };
      const server = await Broker.start(options, stderrLogger(flags.logLevel));
      process.stdout.write(`broker listening on ${server.url}\n`);
      const signal = await untilSignal();
      logLine('info', 'shutting down', { signal });
      await server.close();
    });
}
