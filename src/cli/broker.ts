import { InvalidArgumentError, type Command } from 'commander';
import { loadBrokerConfigFile } from '../broker/conf.js';
import { Broker, type BrokerOptionsInput } from '../broker/index.js';
import { CliError } from './errors.js';
import { logLine, untilSignal } from './lifecycle.js';
import { stderrLogger } from './logger.js';

interface BrokerStartFlags {
  host?: string;
  port?: number;
  config?: string;
  httpPort?: number;
  httpsPort?: number;
  portsFileDir?: string;
  serverName?: string;
  insecure?: boolean;
  logLevel: string;
}

/** A port as nats-server takes it on its command line: -1 = any free port. */
function parseNatsPort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < -1 || n > 65535) {
    throw new InvalidArgumentError(`expected a port from 0 to 65535 or -1, got "${value}"`);
  }
  return n;
}

/** nats-server's monitoring port: 0 = off, -1 = any free port. */
function monitorPort(n: number | undefined): number | undefined {
  if (n === undefined || n === 0) return undefined;
  return n === -1 ? 0 : n;
}

export function registerBroker(program: Command): void {
  const broker = program.command('broker').description('run the embedded NATS-protocol broker');
  broker
    .command('start')
    .description(
      'start the embedded broker and serve until SIGINT/SIGTERM; SIGUSR2: lame duck mode, SIGHUP: reload -c FILE',
    )
    .option('-a, --host <host>', 'address to listen on (default 127.0.0.1)')
    .option(
      '-p, --port <port>',
      'TCP port, 0 or -1 for any free port (default 4222)',
      parseNatsPort,
    )
    .option('-c, --config <file>', 'nats-server style config file (.conf, .json or .yaml)')
    .option(
      '-m, --http-port <port>',
      'monitoring HTTP port (/varz, /connz, …), -1 for any free port',
      parseNatsPort,
    )
    .option('--https-port <port>', 'monitoring over HTTPS with the tls certificate', parseNatsPort)
    .option('--ports-file-dir <dir>', 'write <exe>_<pid>.ports there, listing the bound URLs')
    .option('-n, --server-name <name>', 'server name reported in INFO')
    .option('--insecure', 'allow a non-loopback listener without TLS and auth')
    .option('--log-level <level>', 'debug, info, warn, error or silent', 'info')
    .action(async (flags: BrokerStartFlags, command: Command) => {
      const fromFile: BrokerOptionsInput = flags.config
        ? await loadBrokerConfigFile(flags.config)
        : {};
      const httpPort = monitorPort(flags.httpPort);
      const httpsPort = monitorPort(flags.httpsPort);
      const flagOptions: BrokerOptionsInput = {
        ...(flags.host !== undefined && { host: flags.host }),
        ...(flags.port !== undefined && { port: flags.port === -1 ? 0 : flags.port }),
        ...(httpPort !== undefined && { httpPort }),
        ...(httpsPort !== undefined && { httpsPort }),
        ...(flags.portsFileDir !== undefined && { portsFileDir: flags.portsFileDir }),
        ...(flags.serverName !== undefined && { serverName: flags.serverName }),
        ...(flags.insecure !== undefined && { insecure: flags.insecure }),
      };
      const options: BrokerOptionsInput = { ...fromFile, ...flagOptions };
      // A configuration's `debug`/`trace` turns on debug logging unless --log-level says otherwise.
      const level =
        (options.debug === true || options.trace === true) &&
        command.getOptionValueSource('logLevel') === 'default'
          ? 'debug'
          : flags.logLevel;
      const server = await Broker.start(options, stderrLogger(level));
      process.stdout.write(`broker listening on ${server.url}\n`);
      if (server.monitorUrl) process.stdout.write(`monitoring on ${server.monitorUrl}\n`);
      if (server.monitorsUrl) process.stdout.write(`monitoring on ${server.monitorsUrl}\n`);
      // SIGUSR2 is nats-server's lame duck signal (`nats-server --signal ldm`).
      // `on`, not `once`: a second SIGUSR2 must not fall back to the default action (exit).
      const lameDuck = new Promise<'lame duck'>((resolve) => {
        process.on('SIGUSR2', () => {
          if (server.inLameDuckMode) return;
          logLine('info', 'entering lame duck mode');
          void server.lameDuck().then(() => resolve('lame duck'));
        });
      });
      // SIGHUP reloads the configuration file, as nats-server's `--signal reload`.
      process.on('SIGHUP', () => {
        if (!flags.config) {
          logLine('warn', 'SIGHUP: no configuration file to reload (start with -c FILE)');
          return;
        }
        loadBrokerConfigFile(flags.config)
          .then((next) => server.reload({ ...next, ...flagOptions }))
          .then(
            () => logLine('info', 'configuration reloaded', { file: flags.config }),
            (err: unknown) =>
              logLine('error', 'configuration reload failed', {
                error: err instanceof Error ? err.message : String(err),
              }),
          );
      });
      const outcome = await Promise.race([untilSignal(), lameDuck]);
      logLine('info', 'shutting down', { signal: outcome });
      await server.close();
    });
  broker
    .command('lame-duck')
    .description('put a running `admiral broker start` into lame duck mode (sends it SIGUSR2)')
    .argument('<pid>', 'process id of the broker')
    .action((pidText: string) => {
      const pid = Number(pidText);
      if (!Number.isInteger(pid) || pid <= 0) {
        throw new CliError(`Expected a process id (a positive integer), got "${pidText}"`, 2);
      }
      try {
        process.kill(pid, 'SIGUSR2');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new CliError(
          `cannot signal process ${pid}: ${code === 'ESRCH' ? 'no such process' : String(err)}`,
          1,
        );
      }
      process.stdout.write(`sent SIGUSR2 (lame duck mode) to ${pid}\n`);
    });
}
