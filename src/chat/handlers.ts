import type { AdmiralClient } from '../client/connect.js';
import { queryInventory } from '../fleet/inventory-client.js';
import type { JobSubmit } from '../fleet/job-request.js';
import type { JobView } from '../fleet/job-view.js';
import { cancelJob, getJob, listJobs, submitJob, waitForJob } from '../fleet/jobs-client.js';
import { pingFleet } from '../fleet/ping.js';
import { whereToRecord } from '../fleet/target.js';
import { type ChatCommand, COMMAND_HELP } from './command-parser.js';
import { type JobLinesOptions, jobSummary, nameList, nodeLines } from './job-lines.js';

// What each chat command does, through the same library calls as the CLI (central's job
// service, the inventory, `adm.ping`), signed with the bridge's own identity. Each handler
// writes its answer line by line through `reply`; a job answers in amiral's three steps:
// "waiting N s for acks", "got X/Y positive acknowledgements", then a line per node and a
// summary.

export interface HandlerOptions extends JobLinesOptions {
  /** The connection to the fleet; `identity` is the bridge's. */
  readonly client: AdmiralClient;
  /** Seconds a job waits for its nodes' acknowledgements before saying how many came; default 5 s. */
  readonly ackWaitS: number;
  /** Jobs `jobs` lists; default 5. */
  readonly jobsListed: number;
  /** How long a ping waits for answers, in ms; default 2000 ms. */
  readonly pingTimeoutMs: number;
}

/** Who asked, for the job's first line and the bridge's log. */
export interface Asker {
  readonly nick: string;
  /** `nick!user@host`, and the account when the server says: recorded with the job. */
  readonly who: string;
}

export type Reply = (line: string) => void;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function ping(cmd: ChatCommand & { name: 'ping' }, o: HandlerOptions, reply: Reply) {
  const r = await pingFleet(o.client.nc, o.client.subjects, {
    target: cmd.target,
    identity: o.client.identity,
    timeoutMs: o.pingTimeoutMs,
  });
  const of = r.expected !== undefined ? `/${r.expected.length}` : '';
  const rtt =
    r.stats === undefined
      ? ''
      : `, rtt min/avg/max ${r.stats.min.toFixed(1)}/${r.stats.avg.toFixed(1)}/${r.stats.max.toFixed(1)} ms`;
  reply(`ping: ${r.replies.length}${of} answered${rtt}`);
  if (r.missing.length > 0) reply(`no answer (${r.missing.length}): ${nameList(r.missing)}`);
  if (r.note !== undefined) reply(`note: ${r.note}`);
}

async function nodes(cmd: ChatCommand & { name: 'nodes' }, o: HandlerOptions, reply: Reply) {
  const records = await queryInventory(o.client.nc, o.client.subjects, {
    identity: o.client.identity,
    target: cmd.target,
  });
  const online = records.filter((r) => r.online).map((r) => r.node);
  const offline = records.filter((r) => !r.online).map((r) => r.node);
  reply(`${records.length} nodes, ${online.length} online, ${offline.length} offline`);
  if (online.length > 0) reply(`online: ${nameList(online)}`);
  if (offline.length > 0) reply(`offline: ${nameList(offline)}`);
}

function jobLine(j: JobView): string {
  const c = j.counts;
  const age = Math.round((Date.now() - j.createdAt) / 1000);
  const by = typeof j.options.requestedBy === 'string' ? `, ${j.options.requestedBy}` : '';
  return `${j.id} ${j.state} ${c.succeeded}/${c.total} ok, ${c.failed} failed: ${j.args.join(' ')} (${age} s ago${by})`;
}

async function jobs(o: HandlerOptions, reply: Reply) {
  const list = await listJobs(o.client, o.jobsListed);
  if (list.length === 0) reply('no jobs');
  for (const j of list) reply(jobLine(j));
}

function endLines(job: JobView, o: HandlerOptions, reply: Reply): void {
  for (const l of nodeLines(job.nodes ?? [], o)) reply(l);
  reply(jobSummary(job, o.jobUrl));
}

async function job(id: string, o: HandlerOptions, reply: Reply) {
  const j = await getJob(o.client, id);
  reply(jobLine(j));
  endLines(j, o, reply);
}

async function run(
  cmd: ChatCommand & { name: 'run' },
  o: HandlerOptions,
  reply: Reply,
  asker: Asker,
) {
  const t = cmd.target;
  const submit: JobSubmit = {
    args: [...cmd.args],
    ...(t.nodes !== undefined && { nodes: [...t.nodes] }),
    ...(t.all === true && { all: true }),
    ...(t.where !== undefined && { where: whereToRecord(t.where) }),
    ...(cmd.timeout !== undefined && { methodTimeout: cmd.timeout }),
    requestedBy: `irc:${asker.who}`,
  };
  const submitted = await submitJob(o.client, submit);
  const total = submitted.counts.total;
  reply(
    `job ${submitted.id} for ${asker.nick}: ${cmd.args.join(' ')} on ${total} node${total === 1 ? '' : 's'}; waiting ${o.ackWaitS} s for acks`,
  );
  // Step two: acknowledgements (each node stored its message) until all came or the wait ends.
  const deadline = Date.now() + o.ackWaitS * 1000;
  let seen: JobView = submitted;
  for (;;) {
    seen = await getJob(o.client, submitted.id, { nodes: false });
    if (seen.counts.acknowledged >= total || seen.state !== 'running') break;
    if (Date.now() >= deadline) break;
    await sleep(Math.min(200, Math.max(0, deadline - Date.now())));
  }
  reply(`got ${seen.counts.acknowledged}/${total} positive acknowledgements`);
  // Step three: a line per node and the summary once the job ended.
  const done =
    seen.state === 'running'
      ? await waitForJob(o.client, submitted.id)
      : await getJob(o.client, submitted.id);
  endLines(done, o, reply);
}

/** Carries out one command; errors are the caller's to say (they name what was wrong). */
export async function handleCommand(
  cmd: ChatCommand,
  options: HandlerOptions,
  reply: Reply,
  asker: Asker,
): Promise<void> {
  switch (cmd.name) {
    case 'help':
      for (const l of COMMAND_HELP) reply(l);
      return;
    case 'ping':
      return ping(cmd, options, reply);
    case 'nodes':
      return nodes(cmd, options, reply);
    case 'jobs':
      return jobs(options, reply);
    case 'job':
      return job(cmd.id, options, reply);
    case 'cancel': {
      const j = await cancelJob(options.client, cmd.id);
      reply(`cancelling job ${j.id} (${j.counts.finished}/${j.counts.total} nodes had finished)`);
      return;
    }
    case 'run':
      return run(cmd, options, reply, asker);
  }
}
