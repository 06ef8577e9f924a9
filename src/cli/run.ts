import { type Command, InvalidArgumentError } from 'commander';
import { CentralServiceError } from '../central/errors.js';
import type { AdmiralClient } from '../client/connect.js';
import type { JobSubmit } from '../fleet/job-request.js';
import {
  countNodeViews,
  EXIT_CODES,
  exitCodeOf,
  type JobView,
  outcomeOf,
} from '../fleet/job-view.js';
import { queryInventory } from '../fleet/inventory-client.js';
import {
  getJob,
  getJobWithNodes,
  readThroughFailover,
  submitJob,
  waitForJob,
} from '../fleet/jobs-client.js';
import { type LiveRunReport, runLive } from '../fleet/live.js';
import { parseRateLimit, RateLimitSyntaxError } from '../fleet/rate.js';
import { FilterSyntaxError, isEmptyTarget, type Target, whereToRecord } from '../fleet/target.js';
import { type GlobalFlags, withClient } from './central-client.js';
import { parseDuration } from './duration.js';
import { CliError } from './errors.js';
import { ALL_NODE_COLS, progressLine, renderJob, renderNodes } from './job-output.js';
import { narrowToOnline, noMatchReason } from './no-match.js';
import { checkCols } from './output.js';
import { addTargetOptions, type TargetFlags, targetFromOptions } from './target.js';

// `admiral run [target] -- CMD ARGS...`: a durable job through central (docs/jobs.md), or with
// --live amiral's broadcast with start/noop/complete answers.

interface RunFlags extends GlobalFlags, TargetFlags {
  async?: boolean;
  /** Block until every node answered or the ttl ran out (default: until the online ones did). */
  wait?: boolean;
  /** Only the nodes online now. */
  online?: boolean;
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

/**
 * `Fatal error:` with the job's exit code when central refused the job for matching no node,
 * saying which part of the target removed them all.
 */
async function refused(client: AdmiralClient, target: Target, err: unknown): Promise<never> {
  if (err instanceof CentralServiceError && err.code === 'ADMIRAL_JOB_NO_NODES') {
    throw new CliError(await noMatchReason(client, target), EXIT_CODES.noNodes, { cause: err });
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

/** Once every node online at the start has answered, how long to wait for late ones, ms. */
const GRACE_MS = 1000;

async function runDurable(
  client: AdmiralClient,
  job: JobSubmit,
  target: Target,
  flags: RunFlags,
): Promise<number> {
  const t0 = performance.now();
  const submitted = await submitJob(client, job).catch((err: unknown) =>
    refused(client, target, err),
  );
  const online = await onlineAtStart(client, submitted);
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
    done =
      flags.wait === true || online === undefined
        ? await waitForJob(client, submitted.id, onProgress)
        : await waitForOnline(client, submitted.id, online, onProgress);
  } finally {
    process.off('SIGINT', onSignal);
  }
  if (drawn) process.stderr.write(`\r\x1b[2K${progressLine(done.counts)}\n`);
  process.stdout.write(renderJob(done, flags.format ?? 'text', flags.cols, performance.now() - t0));
  const pending = (done.nodes ?? []).filter((n) => outcomeOf(n) === 'running');
  if (done.state !== 'running' || pending.length === 0) return exitCodeOf(done.counts);
  const ttl = typeof done.options.ttl === 'number' ? ` (${done.options.ttl} s)` : '';
  process.stderr.write(
    `not answered yet (offline when the job started): ${pending.map((n) => n.node).join(', ')}; ` +
      `the job keeps their commands until its ttl${ttl} and runs them when they come back; ` +
      `follow it with: admiral jobs show ${done.id} --wait (or run with --wait to block until the end)\n`,
  );
  // Not answered (yet) is counted as such: the exit code says some did not answer.
  const failed = done.counts.failed > 0;
  return failed ? EXIT_CODES.failedAndNoAnswer : EXIT_CODES.someNoAnswer;
}

/**
 * The names of the job's nodes that central's inventory says are online now; undefined when the
 * inventory cannot say (the CLI then waits for the whole job, as with --wait).
 */
async function onlineAtStart(
  client: AdmiralClient,
  job: JobView,
): Promise<ReadonlySet<string> | undefined> {
  try {
    const names = (job.nodes ?? (await getJobWithNodes(client, job.id)).nodes ?? []).map(
      (n) => n.node,
    );
    if (names.length === 0) return undefined;
    const records = await queryInventory(client.nc, client.subjects, {
      identity: client.identity,
      target: { nodes: names },
      onlineOnly: true,
    });
    return new Set(records.map((r) => r.node));
  } catch {
    return undefined;
  }
}

/**
 * Waits until every node in `online` has answered (then GRACE_MS more for the others) or the job
 * ended; nodes that were offline keep their messages at central until the ttl.
 */
async function waitForOnline(
  client: AdmiralClient,
  id: string,
  online: ReadonlySet<string>,
  onProgress?: (job: JobView) => void,
): Promise<JobView> {
  const answered = (job: JobView): boolean =>
    (job.nodes ?? []).every((n) => !online.has(n.node) || outcomeOf(n) !== 'running');
  const read = <T>(fn: () => Promise<T>): Promise<T> => readThroughFailover(client, fn);
  let graceUntil: number | undefined;
  for (;;) {
    const summary = await read(() => getJob(client, id, { nodes: false }));
    onProgress?.(summary);
    if (summary.state !== 'running') return read(() => getJobWithNodes(client, id));
    // Counts first: the per-node view is fetched only once enough nodes have finished.
    if (summary.counts.finished >= online.size) {
      const job = await read(() => getJobWithNodes(client, id));
      if (job.state !== 'running') return job;
      if (answered(job)) {
        graceUntil ??= Date.now() + GRACE_MS;
        if (Date.now() >= graceUntil || job.counts.finished === job.counts.total) return job;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * `run`'s words before `--` (the positional target, as `nodes` and `ping` take it) and the
 * command after it. Commander hands both over as one list; argv says where `--` stood.
 */
function splitTarget(words: readonly string[]): { target?: string; command: string[] } {
  const dash = process.argv.indexOf('--');
  if (dash === -1) return { command: [...words] };
  const after = Math.min(words.length, process.argv.length - dash - 1);
  const before = words.slice(0, words.length - after);
  const command = words.slice(words.length - after);
  if (before.length > 1) {
    throw new CliError(
      `Expected at most one target before -- (node names a,b or one filter fact=glob), got ${before.map((w) => JSON.stringify(w)).join(' ')}; the command and its arguments go after --`,
    );
  }
  if (command.length === 0) throw new CliError('Expected a command after --');
  return { ...(before[0] !== undefined && { target: before[0] }), command };
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
  target: Target,
): Promise<number> {
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
    .option('--wait', 'wait for every node, offline ones included, until the ttl runs out')
    .option('--online', 'only the targeted nodes that are online now')
    .action(async (words: string[], _opts: unknown, command: Command) => {
      const flags = command.optsWithGlobals<RunFlags>();
      const { target: positional, command: args } = splitTarget(words);
      const code = await withClient(flags, 5000, async (client) => {
        let target: Target;
        try {
          target = targetFromOptions(flags, positional);
        } catch (err) {
          if (err instanceof FilterSyntaxError) throw new CliError(err.message, 1, { cause: err });
          throw err;
        }
        if (flags.live === true) return runLiveMode(client, args, flags, target);
        if (isEmptyTarget(target)) {
          throw new CliError(
            'Expected a target: node names or a filter before -- (run web1 -- hostname), --nodes a,b,c, --all or --where FACT=GLOB',
          );
        }
        if (flags.online === true) target = await narrowToOnline(client, target);
        checkCols(flags.cols, ALL_NODE_COLS, 'run');
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
        return runDurable(client, job, target, flags);
      });
      process.exitCode = code;
    });
}
