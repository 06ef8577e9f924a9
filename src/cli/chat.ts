import { resolve } from 'node:path';
import type { Command } from 'commander';
import {
  allowlistOf,
  ChatBridge,
  ChatConfigError,
  describeIrc,
  ircServerOf,
  loadChatIdentity,
} from '../chat/bridge.js';
import { connectClient } from '../client/connect.js';
import { loadConfig } from '../config/load.js';
import { CliError } from './errors.js';
import { logLine, untilSignal } from './lifecycle.js';
import { stderrLogger } from './logger.js';

// `admiral chat irc …`: the IRC chat bridge on its own (docs/chat.md), and `admiral chat key`,
// the key central must trust for it. Inside `admiral up` the same bridge runs when
// `chat.irc.server` is configured.

interface ChatIrcFlags {
  dataDir?: string;
  broker?: string;
  config?: string;
  server?: string;
  tls?: boolean;
  nick?: string;
  channel?: string;
  allow?: string[];
  allowRead?: string[];
  ackWait?: string;
  jobUrl?: string;
  logLevel?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function seconds(value: string): string {
  if (!(Number(value) > 0)) {
    throw new CliError(
      `Expected --ack-wait to be a number of seconds, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

export function registerChat(program: Command): void {
  const chat = program.command('chat').description('drive the fleet from a chat channel');
  chat
    .command('irc')
    .description('join an IRC channel and answer `admiral: ping`, `run`, `jobs`, … there')
    .option('--server <host:port>', 'IRC server (chat.irc.server)')
    .option('--tls', 'TLS to the IRC server (chat.irc.tls)')
    .option('--nick <nick>', "the bridge's nick (chat.irc.nick; default admiral)")
    .option('--channel <channel>', 'channel to join (chat.irc.channel; default #ops)')
    .option(
      '--allow <mask>',
      'who may use every command: nick!user@host (globs * ?) or account:NAME (repeatable; chat.irc.allow)',
      collect,
    )
    .option(
      '--allow-read <mask>',
      'who may use ping, nodes, jobs, job (repeatable; chat.irc.allowRead)',
      collect,
    )
    .option('--ack-wait <seconds>', 'how long a job waits for acknowledgements', seconds)
    .option('--job-url <url>', "a job's link, {id} replaced (chat.irc.jobUrl)")
    .option('--config <file>', 'config file (instead of <data-dir>/config.yaml)')
    .option('--log-level <level>', 'trace … error, silent')
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<ChatIrcFlags>();
      const flags: Record<string, unknown> = {
        ...(opts.dataDir !== undefined && { dataDir: opts.dataDir }),
        ...(opts.logLevel !== undefined && { logLevel: opts.logLevel }),
        ...(opts.server !== undefined && { 'chat.irc.server': opts.server }),
        ...(opts.tls === true && { 'chat.irc.tls': true }),
        ...(opts.nick !== undefined && { 'chat.irc.nick': opts.nick }),
        ...(opts.channel !== undefined && { 'chat.irc.channel': opts.channel }),
        ...(opts.allow !== undefined && { 'chat.irc.allow': opts.allow }),
        ...(opts.allowRead !== undefined && { 'chat.irc.allowRead': opts.allowRead }),
        ...(opts.ackWait !== undefined && { 'chat.irc.ackWait': Number(opts.ackWait) }),
        ...(opts.jobUrl !== undefined && { 'chat.irc.jobUrl': opts.jobUrl }),
      };
      const { config } = loadConfig({
        flags,
        ...(opts.config !== undefined && { configFile: opts.config }),
      });
      try {
        ircServerOf(config.chat.irc);
        allowlistOf(config.chat.irc);
      } catch (err) {
        if (err instanceof ChatConfigError) throw new CliError(err.message, 1, { cause: err });
        throw err;
      }
      const dataDir = resolve(config.dataDir);
      const log = stderrLogger(config.logLevel);
      const identity = await loadChatIdentity(dataDir);
      const fleet = await connectClient({
        ...(opts.broker !== undefined && { broker: opts.broker }),
        dataDir,
        name: 'admiral-chat-irc',
        // A service: the broker restarting must not leave it deaf for good.
        persistent: true,
      });
      let bridge: ChatBridge;
      try {
        bridge = ChatBridge.start({ config: config.chat.irc, client: { ...fleet, identity }, log });
      } catch (err) {
        await fleet.close();
        if (err instanceof ChatConfigError) throw new CliError(err.message, 1, { cause: err });
        throw err;
      }
      process.stdout.write(
        [
          'admiral chat bridge is up',
          `  irc:      ${describeIrc(config.chat.irc)}`,
          `  fleet:    ${fleet.brokerUrl}`,
          `  its key:  ${identity.publicKey}`,
          `  central must trust it; on the central, run: admiral trust add ${identity.publicKey} --label chat-irc`,
          '',
        ].join('\n'),
      );
      const signal = await untilSignal();
      logLine('info', 'shutting down', { signal });
      await bridge.close();
      await fleet.close();
    });
  chat
    .command('key')
    .description("print the chat bridge's public key (made if missing): what central must trust")
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ dataDir?: string }>();
      const { config } = loadConfig({
        flags: { ...(opts.dataDir !== undefined && { dataDir: opts.dataDir }) },
      });
      const identity = await loadChatIdentity(resolve(config.dataDir));
      process.stdout.write(`${identity.publicKey}\n`);
    });
}
