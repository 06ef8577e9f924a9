#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { isSecretFlag } from '../config/flags.js';
import { redactArgv } from '../config/redact.js';
import { withholdSecretEnv } from '../config/secret-env.js';
import { VERSION } from '../version.js';
import { CliError, describeError } from './errors.js';
import { parseDuration } from './duration.js';
import { parseCols, parseFormat } from './output.js';

type Register = (program: Command) => void;

// Every command and the module that defines it. Only the module of the command being run is
// loaded (start-up time matters: `admiral ping` is timed end to end); help loads them all.
const COMMANDS: readonly (readonly [names: readonly string[], load: () => Promise<Register[]>])[] =
  [
    [['up'], async () => [(await import('./up.js')).registerUp]],
    [['node'], async () => [(await import('./node.js')).registerNode]],
    [['send'], async () => [(await import('./send.js')).registerSend]],
    [['cancel'], async () => [(await import('./cancel.js')).registerCancel]],
    [['messages'], async () => [(await import('./messages.js')).registerMessages]],
    [['broker'], async () => [(await import('./broker.js')).registerBroker]],
    [
      ['keys', 'trust'],
      async () => {
        const m = await import('./keys.js');
        return [m.registerKeys, m.registerTrust];
      },
    ],
    [['config'], async () => [(await import('./config.js')).registerConfig]],
    [['status'], async () => [(await import('./status.js')).registerStatus]],
    [
      ['nodes'],
      async () => {
        const [nodes, enrol] = await Promise.all([import('./nodes.js'), import('./enrol.js')]);
        return [nodes.registerNodes, enrol.registerNodeEnrolment];
      },
    ],
    [['tokens'], async () => [(await import('./enrol.js')).registerTokens]],
    [['nats'], async () => [(await import('./nats.js')).registerNats]],
    [['facts'], async () => [(await import('./facts.js')).registerFacts]],
    [['sub'], async () => [(await import('./sub.js')).registerSub]],
    [['pub'], async () => [(await import('./pub.js')).registerPub]],
    [['events'], async () => [(await import('./events.js')).registerEvents]],
    [['run'], async () => [(await import('./run.js')).registerRun]],
    [['jobs'], async () => [(await import('./jobs.js')).registerJobs]],
    [['ping'], async () => [(await import('./ping.js')).registerPing]],
    [['service'], async () => [(await import('./service.js')).registerService]],
    [['state'], async () => [(await import('./state.js')).registerState]],
    [['execute'], async () => [(await import('./execute.js')).registerExecute]],
    [['discover'], async () => [(await import('./discover.js')).registerDiscover]],
    [['chat'], async () => [(await import('./chat.js')).registerChat]],
    [
      ['install-extension'],
      async () => [(await import('./install-extension.js')).registerInstallExtension],
    ],
    [['configure'], async () => [(await import('./configure.js')).registerConfigure]],
    [
      ['install-service', 'uninstall-service'],
      async () => [(await import('./install-service.js')).registerInstallService],
    ],
  ];

/** Global flags that take a value, so the word after them is not the command. */
const GLOBAL_WITH_VALUE = new Set([
  '--broker',
  '--access-key',
  '--data-dir',
  '--central-wait',
  '--format',
  '--cols',
]);

/** The command word in argv (`admiral --format json nodes` → `nodes`), if any. */
function commandWord(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (GLOBAL_WITH_VALUE.has(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

// Secrets given in the environment leave it before anything else runs: out of process.env (no
// child inherits them) and out of /proc/PID/environ (any process of this uid can read it).
const withheld = withholdSecretEnv();
if (withheld.notCleared !== undefined) {
  process.stderr.write(
    `warning: ${withheld.names.join(', ')} could not be cleared from /proc/${process.pid}/environ (${withheld.notCleared}); processes of this user can read them there\n`,
  );
}

// Secrets given as flags (`--password`, `--token`, `--join`, `--access-key`, a password in a
// broker URL) leave the process list (ps, /proc/PID/cmdline) as soon as the CLI runs: the title
// takes the place of argv there. `***` is short so the title fits the space argv had.
const shown = redactArgv(process.argv.slice(1), isSecretFlag);
if (shown.some((arg, i) => arg !== process.argv[i + 1])) {
  process.title = [process.argv0, ...shown].join(' ');
}

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
  .option(
    '--central-wait <duration>',
    'how long to wait for a restarting broker or central before failing (default 5s, ADMIRAL_CENTRAL_WAIT)',
    parseDuration,
  )
  .option('--format <format>', 'output: text, json, jsonl, csv or csv-noheader', parseFormat)
  .option('--cols <cols>', 'columns to show, comma separated (repeatable)', parseCols)
  // An option error prints the error and a pointer to the help, not the whole help page.
  .showHelpAfterError("(run 'admiral help' or add --help to the command for its usage)")
  .exitOverride();

const args = process.argv.slice(2);
const word = commandWord(args);
const versionOnly = word === undefined && (args.includes('--version') || args.includes('-V'));
const wanted = COMMANDS.filter(([names]) => word !== undefined && names.includes(word));
for (const [, load] of versionOnly ? [] : wanted.length > 0 ? wanted : COMMANDS) {
  for (const register of await load()) register(program);
}

try {
  // `broker start` also takes nats-server's flag spellings (src/cli/nats-flags.ts).
  const argv =
    word === 'broker'
      ? (await import('./nats-flags.js')).natsStyleArgs(process.argv)
      : process.argv;
  await program.parseAsync(argv);
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
