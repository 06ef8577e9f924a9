#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.js';
import { registerBroker } from './broker.js';
import { registerCancel } from './cancel.js';
import { registerConfig } from './config.js';
import { registerConfigure } from './configure.js';
import { registerDiscover } from './discover.js';
import { CliError, describeError } from './errors.js';
import { registerEvents } from './events.js';
import { registerExecute } from './execute.js';
import { registerFacts } from './facts.js';
import { registerInstallExtension } from './install-extension.js';
import { registerInstallService } from './install-service.js';
import { registerJobs } from './jobs.js';
import { registerKeys, registerTrust } from './keys.js';
import { registerMessages } from './messages.js';
import { registerNode } from './node.js';
import { registerNodes } from './nodes.js';
import { parseCols, parseFormat } from './output.js';
import { registerPing } from './ping.js';
import { registerPub } from './pub.js';
import { registerRun } from './run.js';
import { registerSend } from './send.js';
import { registerService } from './service.js';
import { registerStatus } from './status.js';
import { registerSub } from './sub.js';
import { registerUp } from './up.js';

const program = new Command();
program
  .name('admiral')
  .description('Command and control for fleets of machines over NATS.')
  .version(VERSION)
  // Global flags of every client command (bpclient's): read them with `command.optsWithGlobals()`.
  .option(
    '--broker <url>',
    "broker to use, nats://host:port or host:port (default: the local node's)",
  )
  .option('--access-key <key>', 'access key for registry entries and extensions that require one')
  .option(
    '--data-dir <dir>',
    'data dir of the local node (default ADMIRAL_DATA_DIR or ./admiral-data)',
  )
  .option('--format <format>', 'output: text, json, jsonl, csv or csv-noheader', parseFormat)
  .option('--cols <cols>', 'columns to show, comma separated (repeatable)', parseCols)
  .showHelpAfterError()
  .exitOverride();

registerUp(program);
registerNode(program);
registerSend(program);
registerCancel(program);
registerMessages(program);
registerBroker(program);
registerKeys(program);
registerTrust(program);
registerConfig(program);
registerStatus(program);
registerNodes(program);
registerFacts(program);
registerSub(program);
registerPub(program);
registerEvents(program);
registerRun(program);
registerJobs(program);
registerPing(program);
registerService(program);
registerExecute(program);
registerDiscover(program);
registerInstallExtension(program);
registerConfigure(program);
registerInstallService(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander already printed help, the version or its usage error.
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`Fatal error: ${describeError(err)}\n`);
    // Exit now: a failed connection attempt can leave a socket open (nats.js keeps the socket of
    // a handshake that timed out), which would keep the process alive. stderr to a file or pipe
    // is written synchronously on POSIX, so nothing is lost.
    process.exit(err instanceof CliError ? err.exitCode : 1);
  }
}
