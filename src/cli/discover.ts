import { resolve } from 'node:path';
import type { Command } from 'commander';
import { discover } from '../central/discover.js';
import { pythonJson } from '../central/python-json.js';
import { loadConfig } from '../config/load.js';
import type { GlobalFlags } from './central-client.js';
import { parseDuration } from './duration.js';
import { parsePort } from './parse.js';

// `admiral discover --name N`: bpclient's discover. Broadcasts on the local subnet and prints the
// first answering central's IP alone, so `BROKER=$(admiral discover --name foo-$CLUSTER_ID)`.

interface DiscoverFlags extends GlobalFlags {
  readonly name: string;
  readonly timeout: number;
  readonly port?: number;
  readonly broadcast?: string;
  readonly trustKey?: string[];
}

export function registerDiscover(program: Command): void {
  program
    .command('discover')
    .description('discover a central on the local subnet by a name in its registry; prints its IP')
    .requiredOption('--name <name>', "a name registered in the central's service registry")
    .option('--timeout <duration>', 'how long to wait for an answer', parseDuration, 2)
    .option('--port <port>', 'UDP port (default central.discovery.port, 20443)', parsePort)
    .option(
      '--broadcast <address>',
      'where to send (default central.discovery.broadcast, 255.255.255.255)',
    )
    .option(
      '--trust-key <key>',
      'accept replies signed by this key only (repeatable; default central.discovery.trustedKeys)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .action(async (_opts: unknown, command: Command) => {
      const flags = command.optsWithGlobals<DiscoverFlags>();
      const dataDir = resolve(flags.dataDir ?? process.env.ADMIRAL_DATA_DIR ?? 'admiral-data');
      const d = loadConfig({ flags: { dataDir } }).config.central.discovery;
      const port = flags.port ?? d.port;
      if (port === 0) {
        throw new Error(
          'discovery port 0 means "any free port" for a responder and cannot be asked: give the central\'s discovery port with --port (or set central.discovery.port)',
        );
      }
      const found = await discover({
        name: flags.name,
        port,
        broadcast: flags.broadcast ?? d.broadcast,
        // Without --broadcast, this host is asked too: a central in local mode (`admiral up`
        // alone) hears only on loopback.
        ...(flags.broadcast === undefined && { alsoAsk: ['127.0.0.1'] }),
        timeoutMs: flags.timeout * 1000,
        trustedKeys: flags.trustKey ?? d.trustedKeys,
      });
      if (flags.format !== undefined && flags.format !== 'text') {
        process.stdout.write(
          `${pythonJson({ address: found.address, node: found.node, publicKey: found.publicKey })}\n`,
        );
        return;
      }
      process.stdout.write(`${found.address}\n`);
    });
}
