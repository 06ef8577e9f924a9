import type { Command } from 'commander';
import { forgetNode } from '../fleet/inventory-client.js';
import type { EnrolAdminBody, EnrolAdminReply } from '../central/enrolment.js';
import type { AdmiralClient } from '../client/connect.js';
import { ENROL_ADMIN_SERVICE } from '../protocol/enrolment.js';
import { signRequest } from '../protocol/signed-request.js';
import { type GlobalFlags, withClient } from './central-client.js';
import { parseDuration } from './duration.js';
import { CliError } from './errors.js';
import { renderRows } from './output.js';

// Key acceptance, as Salt's `salt-key`: `admiral nodes pending|accept|reject|revoke` and join
// tokens, `admiral tokens create|list|revoke`. Each is a request signed with the local node's
// identity to central's `enrolAdmin` service, which accepts only the central's own key or a key
// in its trust store (run them on the central's machine, or after `admiral trust add` there).

const TIMEOUT_MS = 10_000;

async function ask(
  client: AdmiralClient,
  body: EnrolAdminBody,
): Promise<EnrolAdminReply & { ok: true }> {
  const signed = signRequest(ENROL_ADMIN_SERVICE, body, client.identity);
  let reply: EnrolAdminReply;
  // No responders: the request reached nobody, so asking again cannot do anything twice; a
  // central restarting, or a standby taking the lease, answers within --central-wait.
  const deadline = Date.now() + (client.centralWaitMs ?? 0);
  for (;;) {
    try {
      const msg = await client.nc.request(
        client.subjects.central(ENROL_ADMIN_SERVICE),
        JSON.stringify(signed),
        { timeout: TIMEOUT_MS },
      );
      reply = JSON.parse(Buffer.from(msg.data).toString('utf8')) as EnrolAdminReply;
      break;
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      if (!/no responders|503/i.test(text)) {
        throw new CliError(`central did not answer: ${text}`, 1, { cause: err });
      }
      if (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      throw new CliError(
        'no central answers enrolment requests: joining is on only in a central started with admiral up --listen, or with node start --central-role --nats-operator DIR',
        1,
        { cause: err },
      );
    }
  }
  if (!reply.ok) throw new CliError(reply.error);
  return reply;
}

const iso = (ms: number | undefined): string =>
  ms === undefined ? '' : new Date(ms).toISOString();

function run(
  command: Command,
  body: (client: AdmiralClient, flags: GlobalFlags) => Promise<void>,
): Promise<void> {
  const flags = command.optsWithGlobals<GlobalFlags>();
  return withClient(flags, TIMEOUT_MS, (client) => body(client, flags));
}

/** Adds `pending`, `accept`, `reject`, `forget` and `revoke` to `admiral nodes`. */
export function registerNodeEnrolment(program: Command): void {
  const nodes = program.commands.find((c) => c.name() === 'nodes');
  if (!nodes) throw new Error('register `admiral nodes` before its enrolment subcommands');
  nodes
    .command('pending')
    .description(
      'list nodes that asked to join and wait for an operator (with --any-state: every node that asked)',
    )
    .option('--any-state', 'every node that asked to join: pending, accepted, rejected, revoked')
    .action((_opts: unknown, command: Command) =>
      run(command, async (client, flags) => {
        const all = command.opts<{ anyState?: boolean }>().anyState === true;
        const reply = await ask(client, { op: 'nodes.list', ...(!all && { state: 'pending' }) });
        const cols = flags.cols ?? ['node', 'state', 'publicKey', 'requestedAt', 'reason'];
        const rows = (reply.nodes ?? []).map((n) => ({
          node: n.name,
          state: n.state,
          publicKey: n.publicKey,
          requestedAt: iso(n.requestedAt),
          updatedAt: iso(n.updatedAt),
          via: n.via ?? '',
          reason: n.reason ?? '',
        }));
        process.stdout.write(renderRows(rows, flags.format ?? 'text', cols));
      }),
    );
  nodes
    .command('accept')
    .argument('<name>', 'the node to let in')
    .description("accept a waiting node (Salt's key accept): its key becomes a broker user")
    .action((name: string, _opts: unknown, command: Command) =>
      run(command, async (client) => {
        const reply = await ask(client, { op: 'nodes.accept', name });
        process.stdout.write(`node ${name} accepted (key ${reply.node?.publicKey ?? '?'})\n`);
      }),
    );
  nodes
    .command('reject')
    .argument('<name>', 'the node to refuse')
    .option('--reason <text>', 'told to the node')
    .description('refuse a waiting node: it stops asking and exits')
    .action((name: string, _opts: unknown, command: Command) =>
      run(command, async (client) => {
        const reason = command.opts<{ reason?: string }>().reason;
        await ask(client, { op: 'nodes.reject', name, ...(reason !== undefined && { reason }) });
        process.stdout.write(`node ${name} rejected\n`);
      }),
    );
  nodes
    .command('forget')
    .argument('<name>', 'the node to forget')
    .description(
      "remove a node that is gone for good from central's inventory (refused while it is online)",
    )
    .action((name: string, _opts: unknown, command: Command) =>
      run(command, async (client) => {
        await forgetNode(client.nc, client.subjects, client.identity, name);
        process.stdout.write(`node ${name} forgotten: it is no longer in the inventory\n`);
      }),
    );
  nodes
    .command('revoke')
    .argument('<name>', 'the node to cut off')
    .description(
      'remove an enrolled node: its broker user is deleted (on nats-server: its JWT revoked) and its connection closed',
    )
    .action((name: string, _opts: unknown, command: Command) =>
      run(command, async (client) => {
        const reply = await ask(client, { op: 'nodes.revoke', name });
        process.stdout.write(
          reply.closed === undefined
            ? `node ${name} revoked; its JWT is revoked on the nats-servers, which close its connections\n`
            : `node ${name} revoked; ${reply.closed} connection${reply.closed === 1 ? '' : 's'} closed\n`,
        );
      }),
    );
}

export function registerTokens(program: Command): void {
  const tokens = program
    .command('tokens')
    .description('join tokens that let remote nodes enrol (admiral up --listen)');
  tokens
    .command('create')
    .description('make a join token and print it (shown once)')
    .option(
      '--ttl <duration>',
      'how long it stays valid, e.g. 30m, 1h, 2d (default central.enrol.tokenTtl)',
      parseDuration,
    )
    .option('--label <text>', 'what the token is for')
    .action((_opts: unknown, command: Command) =>
      run(command, async (client) => {
        const o = command.opts<{ ttl?: number; label?: string }>();
        const reply = await ask(client, {
          op: 'tokens.create',
          ...(o.ttl !== undefined && { ttlSeconds: o.ttl }),
          ...(o.label !== undefined && { label: o.label }),
        });
        const view = reply.tokens?.[0];
        process.stdout.write(`${reply.token}\n`);
        if (view) process.stderr.write(`token ${view.id} valid until ${iso(view.expiresAt)}\n`);
      }),
    );
  tokens
    .command('list')
    .description(
      'list join tokens: id, state (valid, expired, revoked), expiry, uses; never the secret',
    )
    .action((_opts: unknown, command: Command) =>
      run(command, async (client, flags) => {
        const reply = await ask(client, { op: 'tokens.list' });
        const cols = flags.cols ?? ['id', 'state', 'expiresAt', 'uses', 'label'];
        const rows = (reply.tokens ?? []).map((t) => ({
          id: t.id,
          state: t.state,
          createdAt: iso(t.createdAt),
          expiresAt: iso(t.expiresAt),
          revokedAt: iso(t.revokedAt),
          uses: t.uses,
          label: t.label ?? '',
        }));
        process.stdout.write(renderRows(rows, flags.format ?? 'text', cols));
      }),
    );
  tokens
    .command('revoke')
    .argument('<id>', 'the token id (or the whole token)')
    .description('revoke a join token: nodes can no longer enrol with it')
    .action((id: string, _opts: unknown, command: Command) =>
      run(command, async (client) => {
        await ask(client, { op: 'tokens.revoke', id });
        process.stdout.write(`token ${id.split('.')[0]} revoked\n`);
      }),
    );
}
