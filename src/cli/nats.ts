import { join } from 'node:path';
import type { Command } from 'commander';
import { NATS_OPERATOR_FILES, NatsOperator, NatsOperatorError } from '../central/nats-operator.js';
import { loadConfig } from '../config/load.js';
import { loadOrCreateIdentity, Subjects } from '../protocol/index.js';
import { CliError } from './errors.js';
import { localDataDir } from './system.js';

// `admiral nats init`: nats-server's operator mode set up once by admiral, no nsc
// (docs/operations.md, "On nats-server with JWTs").

export function registerNats(program: Command): void {
  const nats = program
    .command('nats')
    .description('nats-server in operator mode: JWT enrolment of nodes (docs/security.md)');
  nats
    .command('init')
    .description(
      "make, once, the operator, the system account and the fleet's account (its signing key kept by central) in <data-dir>/nats/, with nats-server's configuration and central's credentials",
    )
    .option(
      '--resolver-dir <dir>',
      "the full resolver's folder on each nats-server, in the configuration written",
      'jwt',
    )
    .action(async (_opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ dataDir?: string; resolverDir: string }>();
      const dataDir = localDataDir(opts.dataDir);
      const { config } = loadConfig({ flags: { dataDir } });
      const dir = join(dataDir, NATS_OPERATOR_FILES.dir);
      let operator: NatsOperator;
      try {
        operator = NatsOperator.init(dir, new Subjects(config.subjectPrefix), {
          resolverDir: opts.resolverDir,
        });
      } catch (err) {
        if (err instanceof NatsOperatorError) throw new CliError(err.message, 1, { cause: err });
        throw err;
      }
      const conf = join(dir, NATS_OPERATOR_FILES.serverConf);
      const identity = await loadOrCreateIdentity(join(dataDir, 'identity.seed'));
      const creds = operator.writeCentralCreds(identity, config.nodeName ?? config.centralNode);
      const enrolJwt = operator.storedEnrolJwt();
      process.stdout.write(
        [
          `operator ${operator.operatorPublicKey}`,
          `  account:        ${operator.accountPublicKey} (users signed by a key central holds)`,
          `  system account: ${operator.systemAccountPublicKey}`,
          `  keys and JWTs:  ${dir} (seeds 0600: keep this folder with central's data)`,
          '',
          `1. On every nats-server, include ${conf} in its configuration (with a tls block) and start it.`,
          '2. Start central on the servers:',
          `   admiral node start --central-role --data-dir ${dataDir} --broker tls://HOST:4222 --root-ca CA.pem --creds ${creds} --nats-operator ${dir}`,
          "3. Join a machine (a token from: admiral tokens create; the fingerprint of the servers' CA):",
          `   admiral node start --name NAME --broker tls://HOST:4222 --join TOKEN --ca-fingerprint SHA256 --enrol-jwt ${enrolJwt}`,
          '',
        ].join('\n'),
      );
    });
}
