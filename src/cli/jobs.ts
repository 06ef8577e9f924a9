import { type Command, InvalidArgumentError } from 'commander';
import { exitCodeOf } from '../fleet/job-view.js';
import { cancelJob, getJobWithNodes, listJobs, waitForJob } from '../fleet/jobs-client.js';
import { isMessageId } from '../protocol/index.js';
import { type GlobalFlags, withClient } from './central-client.js';
import { JOB_COLS, jobRow, renderJob } from './job-output.js';
import { renderRows } from './output.js';

// `admiral jobs`, `admiral jobs show ID`, `admiral jobs cancel ID`: central's job store
// (docs/jobs.md).

/** A job id, or a unique start or end of one (central resolves it, as git does commits). */
function jobId(value: string): string {
  if (!isMessageId(value) && !/^[0-9a-f-]{4,35}$/.test(value)) {
    throw new InvalidArgumentError(
      `expected a job id (a UUID) or 4 or more of its first or last characters, got "${value}"`,
    );
  }
  return value;
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  return n;
}

export function registerJobs(program: Command): void {
  const jobs = program
    .command('jobs')
    .description("central's jobs, newest first (show ID, cancel ID)")
    .option('--limit <n>', 'how many jobs', parseLimit, 50)
    .action(async (_opts: unknown, command: Command) => {
      const flags = command.optsWithGlobals<GlobalFlags & { limit: number }>();
      const list = await withClient(flags, 5000, (client) => listJobs(client, flags.limit));
      process.stdout.write(
        renderRows(list.map(jobRow), flags.format ?? 'text', flags.cols ?? JOB_COLS),
      );
    });

  jobs
    .command('show')
    .description(
      "a job's per-node states and output; the exit code is the job's (as `admiral run`)",
    )
    .argument('<id>', 'job id', jobId)
    .option('--wait', 'wait for the job to end')
    .action(async (id: string, _opts: unknown, command: Command) => {
      const flags = command.optsWithGlobals<GlobalFlags & { wait?: boolean }>();
      const job = await withClient(flags, 5000, (client) =>
        flags.wait === true ? waitForJob(client, id) : getJobWithNodes(client, id),
      );
      process.stdout.write(renderJob(job, flags.format ?? 'text', flags.cols));
      if (job.state !== 'running') process.exitCode = exitCodeOf(job.counts);
    });

  jobs
    .command('cancel')
    .description(
      'cancel a job: nodes not started are never started, running commands are cancelled',
    )
    .argument('<id>', 'job id', jobId)
    .action(async (id: string, _opts: unknown, command: Command) => {
      const flags = command.optsWithGlobals<GlobalFlags>();
      const job = await withClient(flags, 5000, (client) => cancelJob(client, id));
      process.stdout.write(
        flags.format === 'json'
          ? `${JSON.stringify(job, null, 2)}\n`
          : `cancelling job ${job.id}\n`,
      );
    });
}
