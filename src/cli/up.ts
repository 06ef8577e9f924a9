import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Broker } from '../broker/index.js';
import { centralExtensions } from '../central/index.js';
import { writeDefaultConfigFile } from '../config/default-file.js';
import { flagsFromOptions } from '../config/flags.js';
import { loadConfig } from '../config/load.js';
import { fleetExtensions } from '../fleet/index.js';
import { nodeOptionsFromConfig } from '../node/from-config.js';
import { AdmiralNode } from '../node/node.js';
import { logLine, untilSignal } from './lifecycle.js';
import { stderrLogger } from './logger.js';
import { parsePort } from './parse.js';

interface UpFlags {
  dataDir?: string;
  brokerPort: number;
  httpListen: string;
  logLevel?: string;
}

/** Where `up` serves HTTP unless told otherwise. */
export const UP_HTTP_DEFAULT = '127.0.0.1:4280';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start everything on this machine: the embedded broker and the central node')
    .option('--data-dir <dir>', 'where state is kept (default ./admiral-data, or ADMIRAL_DATA_DIR)')
    .option(
      '--broker-port <port>',
      'broker TCP port on 127.0.0.1, 0 for any free port',
      parsePort,
      4222,
    )
    .option('--http-listen <host:port>', 'HTTP input and API address', UP_HTTP_DEFAULT)
    .option('--log-level <level>', 'trace … error, silent')
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<UpFlags>();
      // Local mode: loopback only, no auth (DESIGN.md, "Security by default").
      const broker = await Broker.start(
        { host: '127.0.0.1', port: opts.brokerPort },
        stderrLogger('warn'),
      );
      const flags: Record<string, unknown> = {
        ...flagsFromOptions(opts as unknown as Record<string, unknown>),
        nodeName: 'central',
        isCentral: true,
        'broker.url': broker.url,
        'inputs.httpListen': opts.httpListen,
      };
      let node: AdmiralNode;
      try {
        const first = loadConfig({ flags });
        // The broker URL changes with --broker-port: it is not written back, the rest is.
        const { 'broker.url': _url, ...persisted } = flags;
        writeDefaultConfigFile(resolve(first.config.dataDir), persisted);
        const loaded = loadConfig({ flags });
        const log = stderrLogger(loaded.config.logLevel);
        node = await AdmiralNode.start({
          ...nodeOptionsFromConfig(loaded.config, log),
          extensions: [...fleetExtensions(loaded.config), ...centralExtensions(loaded.config)],
        });
      } catch (err) {
        await broker.close();
        throw err;
      }
      const socket = node.inputs.find((i) => i.name === 'socket')?.address ?? '(off)';
      process.stdout.write(
        [
          'admiral is up',
          `  broker:   ${broker.url}`,
          `  node:     central (central role)`,
          `  socket:   ${socket}`,
          `  http:     ${node.httpServer?.url ?? '(off)'}`,
          `  data dir: ${node.options.dataDir}`,
          '',
          'Try, in another terminal:',
          `  npx admiral ping central`,
          `  npx admiral send examples/hello.json`,
          '',
        ].join('\n'),
      );
      const signal = await untilSignal();
      logLine('info', 'shutting down', { signal });
      await node.close();
      await broker.close();
    });
}
