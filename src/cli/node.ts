import { resolve } from 'node:path';
import type { Command } from 'commander';
import { removeFromConfigFile, writeDefaultConfigFile } from '../config/default-file.js';
import { CONFIG_FLAGS, flagsFromOptions } from '../config/flags.js';
import { loadConfig } from '../config/load.js';
import { redact } from '../config/redact.js';
import { fleetExtensions } from '../fleet/index.js';
import { nodeOptionsFromConfig } from '../node/from-config.js';
import { readJoined } from '../node/join.js';
import type { Logger } from '../observability/logger.js';
import { AdmiralNode } from '../node/node.js';
import { logLine, untilSignal } from './lifecycle.js';
import { stderrLogger } from './logger.js';

/** Adds every configuration flag (CONFIG_FLAGS) to a command. */
export function withConfigFlags(cmd: Command): Command {
  for (const f of CONFIG_FLAGS) cmd.option(f.flags, f.description);
  return cmd.option('--config <file>', 'config file (instead of <data-dir>/config.yaml)');
}

/** Writes the flags into <data-dir>/config.yaml; a failure is a warning (the node runs on). */
export function persistFlags(
  dataDir: string,
  flags: Readonly<Record<string, unknown>>,
  log: Logger,
): void {
  try {
    writeDefaultConfigFile(dataDir, flags);
  } catch (err) {
    log('warn', 'the flags given could not be written into config.yaml', {
      dataDir,
      error: err instanceof Error ? err.message : String(err),
    });
  }
}

export function registerNode(program: Command): void {
  const node = program.command('node').description('run a node daemon');
  withConfigFlags(
    node
      .command('start')
      .description(
        'start a node: connect to the broker, take and run messages, until SIGINT/SIGTERM',
      )
      .option('--central-role', 'give this node the central role'),
  ).action(async (_opts: unknown, command: Command) => {
    const opts = command.optsWithGlobals<Record<string, unknown>>();
    const flags = flagsFromOptions(opts);
    if (opts.centralRole === true) flags.isCentral = true;
    for (const key of ['helloInterval', 'central.state.replicas']) {
      if (typeof flags[key] === 'string') flags[key] = Number(flags[key]);
    }
    const configFile = typeof opts.config === 'string' ? opts.config : undefined;
    const loaded = loadConfig({ flags, ...(configFile && { configFile }) });
    const log = stderrLogger(loaded.config.logLevel);
    for (const w of loaded.warnings) log('warn', w);
    const started = await AdmiralNode.start({
      ...nodeOptionsFromConfig(loaded.config, log),
      extensions: [
        ...fleetExtensions(loaded.config),
        // Central's code (registry, jobs, JetStream state, HTTP API, dashboard) is loaded only
        // by a central: an ordinary node never uses it (bench/idle, issue 17).
        ...(loaded.config.isCentral
          ? (await import('../central/index.js')).centralExtensions(loaded.config)
          : []),
      ],
    });
    // Steward writes a default config on first start and persists the flags given; admiral does
    // so once the node has started with them, so a value that was refused never lands there.
    persistFlags(resolve(loaded.config.dataDir), flags, log);
    // Enrolled: the join token has done its job and is a credential; do not leave it on disk.
    if (readJoined(started.options.dataDir) !== undefined) {
      if (removeFromConfigFile(started.options.dataDir, 'join.token')) {
        log('info', 'the join token is removed from config.yaml: this node is enrolled');
      }
    }
    const metrics =
      started.inputs.find((i) => i.name === 'metrics')?.address ??
      (loaded.config.metricsListen !== undefined && started.httpServer
        ? started.httpServer.url
        : undefined);
    // The broker URL as connected; credentials never reach the output (redact drops userinfo).
    const broker = redact(started.connectedServer ?? loaded.config.broker.url);
    process.stdout.write(
      [
        `node ${started.options.name} is up`,
        `  broker:   ${broker}`,
        `  socket:   ${started.inputs.find((i) => i.name === 'socket')?.address ?? '(off)'}`,
        ...(metrics === undefined ? [] : [`  metrics:  ${metrics}/metrics`]),
        ...(started.httpServer ? [`  http:     ${started.httpServer.url}`] : []),
        ...(started.httpServer && loaded.config.isCentral
          ? [`  dashboard: ${started.httpServer.url}/`]
          : []),
        `  data dir: ${started.options.dataDir}`,
        '',
      ].join('\n'),
    );
    const name = started.options.name;
    const why = await Promise.race([
      untilSignal().then((signal) => ({ signal })),
      started.refused.then((reason) => ({ reason })),
    ]);
    if ('reason' in why) {
      logLine(
        'error',
        `the central refuses this node: the name ${name} is held by another key; pick another --name, or if this is ${name} set up again, on the central run: admiral keys forget ${name}`,
        { reason: why.reason },
      );
      process.exitCode = 1;
    } else logLine('info', 'shutting down', { signal: why.signal });
    await started.close();
  });
}
