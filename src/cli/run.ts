import { type Command, InvalidArgumentError } from 'commander';
import { CentralServiceError } from '../central/errors.js';
import type { AdmiralClient } from '../client/connect.js';
import type { JobSubmit } from '../fleet/job-request.js';
import { countNodeViews, EXIT_CODES, exitCodeOf, type JobView } from '../fleet/job-view.js';
import { queryInventory } from '../fleet/inventory-client.js';
import { submitJob, waitForJob } from '../fleet/jobs-client.js';
import { type LiveRunReport, runLive } from '../fleet/live.js';
import { parseRateLimit, RateLimitSyntaxError } from '../fleet/rate.js';
import { isEmptyTarget, whereToRecord } from '../fleet/target.js';
import { type GlobalFlags, withClient } from './central-client.js';
import { parseDuration } from './duration.js';
import { CliError } from './errors.js';
import { progressLine, renderJob, renderNodes } from './job-output.js';
import { addTargetOptions, type TargetFlags, targetFromOptions } from './target.js';

// `admiral run [target] -- CMD ARGS...`: a durable job through central (docs/jobs.md), or with
// --live amiral's broadcast with start/noop/complete answers.

interface RunFlags extends GlobalFlags, TargetFlags {
  async?: boolean;
  live?: boolean;
  discoveryTimeout: number;
  maxConcurrency?: string;
  maxErrors?: string;
  batchSleep?: number;
  timeout?: number;
  ttl?: number;
}

function rateOption(what: string) {
  return (value: string): string => {
    try {
      parseRateLimit(value, what);
    } catch (err) {
      if (err instanceof RateLimitSyntaxError) throw new InvalidArgumentError(err.message);
      throw err;
    }
    return value;
  };
}

/** `Fatal error:` with the job's exit code when central refused the job for matching no node. */
function refused(err: unknown): never {
  if (err instanceof CentralServiceError && err.code === 'ADMIRAL_JOB_NO_NODES') {
    throw new CliError(err.message, EXIT_CODES.noNodes, { cause: err });
  }
  throw err;
}

/**
 * For `--nodes`: names central's inventory has never seen, or sees offline. Their messages are
 * sent all the same (a node gets its commands when it comes back, within the ttl), but an
 * operator who mistyped a name should not learn it only when the ttl has run out.
 */
async function noteAbsent(client: AdmiralClient, job: JobSubmit, ttl: unknown): Promise<void> {
  const listed = job.nodes;
  if (listed === undefined || listed.length === 0) return;
  let online: Map<string, boolean>;
  try {
    const records = await queryInventory(client.nc, client.subjects, {
      identity: client.identity,
      target: { nodes: [...listed] },
    });
    online = new Map(records.map((r) => [r.node, r.online]));
  } catch {
    return; // only a note: the job itself is already submitted
  }
  const never = listed.filter((n) => !online.has(n));
  const offline = listed.filter((n) => online.get(n) === false);
  const wait = `its message waits up to the job's ttl${typeof ttl === 'number' ? ` (${ttl} s)` : ''} for it`;
  if (never.length > 0) {
    process.stderr.write(`note: central has never seen ${never.join(', ')}; ${wait}\n`);
  }
  if (offline.length > 0) {
    process.stderr.write(`note: offline now: ${offline.join(', ')}; ${wait}\n`);
  }
}

async function runDurable(client: AdmiralClient, job: JobSubmit, flags: RunFlags): Promise<number> {
  const t0 = performance.now();
  const submitted = await submitJob(client, job).catch(refused);
  await noteAbsent(client, job, submitted.options.ttl);
  if (flags.async === true) {
    process.stdout.write(
      flags.format === 'json' ? `${JSON.stringify(submitted, null, 2)}\n` : `${submitted.id}\n`,
    );
    return EXIT_CODES.ok;
  }
  const tty = process.stderr.isTTY === true;
  let drawn = false;
  const onProgress = tty
    ? (j: JobView): void => {
        process.stderr.write(`\r\x1b[2K${progressLine(j.counts)}`);
        drawn = true;
      }
    : undefined;
  const onSignal = (): void => {
    // The job goes on at central: say how to find it again.
    process.stderr.write(`\njob ${submitted.id} goes on; see: admiral jobs show ${submitted.id}\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  let done: JobView;
  try {
    done = await waitForJob(client, submitted.id, onProgress);
  } finally {
    process.off('SIGINT', onSignal);
  }
  if (drawn) process.stderr.write(`\r\x1b[2K${progressLine(done.counts)}\n`);
  process.stdout.write(renderJob(done, flags.format ?? 'text', flags.cols, performance.now() - t0));
  return exitCodeOf(done.counts);
}

function renderLive(report: LiveRunReport, flags: RunFlags): string {
  const format = flags.format ?? 'text';
  if (format === 'json') {
    return `${JSON.stringify(
      {
        id: report.id,
        started: report.started,
        noop: report.noop,
        nodes: report.nodes,
        counts: countNodeViews(report.nodes),
        elapsedMs: report.elapsedMs,
      },
      null,
      2,
    )}\n`;
  }
  const silent = report.nodes.filter((n) => n.state === 'did-not-answer').map((n) => n.node);
  const failed = report.nodes
    .filter(
      (n) => n.state !== 'did-not-answer' && !(n.state === 'completed' && (n.exitCode ?? 0) === 0),
    )
    .map((n) => `${n.node} (${n.state}${n.exitCode !== undefined ? `, exit ${n.exitCode}` : ''})`);
  const lines = [`got ${report.responses.length} responses`];
  if (failed.length > 0) lines.push(`failed (${failed.length}): ${failed.join(', ')}`);
  if (silent.length > 0) lines.push(`did not answer (${silent.length}): ${silent.join(', ')}`);
  return renderNodes(report.nodes) + `${lines.join('\n')}\n`;
}

async function runLiveMode(
  client: AdmiralClient,
  args: string[],
  flags: RunFlags,
): Promise<number> {
  const target = targetFromOptions(flags);
  if (target.nodes !== undefined) {
    throw new CliError(
      '--live selects nodes by their facts: use --where or --all (or --where node=NAME)',
    );
  }
  const methodTimeout = flags.timeout ?? 60;
  const text = (flags.format ?? 'text') === 'text';
  if (text) {
    process.stdout.write(`accepting acknowledgements for ${flags.discoveryTimeout} seconds\n`);
  }
  const report = await runLive(client.nc, client.subjects, client.identity, {
    args,
    where: whereToRecord(target.where ?? []),
    discoveryTimeoutMs: flags.discoveryTimeout * 1000,
    methodTimeout,
    onAcknowledged: (positive, total) => {
      if (text) process.stdout.write(`got ${positive}/${total} positive acknowledgements\n`);
    },
  });
  process.stdout.write(renderLive(report, flags));
  if (report.started.length === 0) return EXIT_CODES.noNodes;
  return exitCodeOf(countNodeViews(report.nodes));
}

export function registerRun(program: Command): void {
  addTargetOptions(
    program
      .command('run')
      .description('run a command on the targeted nodes, as a durable job through central')
      .usage('[target] [options] -- <command> [args...]')
      .argument('<command...>', 'the command and its arguments, after --'),
  )
    .option('--async', 'print the job id at once and leave; see `admiral jobs show ID`')
    .option('--live', "broadcast to the connected nodes (amiral's start/noop/complete)")
    .option(
      '--discovery-timeout <duration>',
      'with --live: how long to wait for acknowledgements',
      parseDuration,
      2,
    )
    .option(
      '--max-concurrency <n|n%>',
      'most nodes running at once',
      rateOption('--max-concurrency'),
    )
    .option(
      '--max-errors <n|n%>',
      'after this many errors no new node is started; the job ends aborted',
      rateOption('--max-errors'),
    )
    .option(
      '--batch-sleep <duration>',
      'with --max-concurrency: pause between batches',
      parseDuration,
    )
    .option(
      '--timeout <duration>',
      'how long the command may run on each node (central.jobs.methodTimeout)',
      parseDuration,
    )
    .option(
      '--ttl <duration>',
      'how long a message may wait for an offline node (central.jobs.ttl)',
      parseDuration,
    )
    .action(async (args: string[], _opts: unknown, command: Command) => {
      const flags = command.optsWithGlobals<RunFlags>();
      const code = await withClient(flags, 5000, async (client) => {
        if (flags.live === true) return runLiveMode(client, args, flags);
        const target = targetFromOptions(flags);
        if (isEmptyTarget(target)) {
          throw new CliError('Expected a target: --nodes a,b,c, --all or --where FACT=GLOB');
        }
        const job: JobSubmit = {
          args,
          ...(target.nodes !== undefined && { nodes: [...target.nodes] }),
          ...(target.all === true && { all: true }),
          ...(target.where !== undefined && { where: whereToRecord(target.where) }),
          ...(flags.maxConcurrency !== undefined && { maxConcurrency: flags.maxConcurrency }),
          ...(flags.maxErrors !== undefined && { maxErrors: flags.maxErrors }),
          ...(flags.batchSleep !== undefined && { batchSleep: flags.batchSleep }),
          ...(flags.timeout !== undefined && { methodTimeout: flags.timeout }),
          ...(flags.ttl !== undefined && { ttl: flags.ttl }),
        };
        return runDurable(client, job, flags);
      });
      process.exitCode = code;
    });
}
