import { requestCentral } from '../central/client.js';
import { CentralUnavailableError } from '../central/errors.js';
import type { AdmiralClient } from '../client/connect.js';
import { signRequest } from '../protocol/signed-request.js';
import type { JobSubmit, JobsRequest } from './job-request.js';
import type { JobNodeView, JobView } from './job-view.js';

// The client half of central's job service (`adm.central.jobs`): every request is signed with
// the client's identity; central accepts it only from a key it trusts (its own, when the CLI
// uses central's data dir, or one in its trust store).

const SERVICE = 'jobs';

async function call(client: AdmiralClient, body: JobsRequest, timeoutMs: number): Promise<unknown> {
  const signed = signRequest(SERVICE, body, client.identity);
  return requestCentral(client, SERVICE, { ...signed }, timeoutMs);
}

export function submitJob(
  client: AdmiralClient,
  job: JobSubmit,
  timeoutMs = 30_000,
): Promise<JobView> {
  return call(client, { op: 'submit', job }, timeoutMs) as Promise<JobView>;
}

/** The job; with `waitS`, central answers when it ends or after that many seconds (≤ 30). */
export function getJob(
  client: AdmiralClient,
  id: string,
  options: {
    waitS?: number;
    nodes?: boolean;
    offset?: number;
    limit?: number;
    timeoutMs?: number;
  } = {},
): Promise<JobView> {
  const waitS = options.waitS ?? 0;
  return call(
    client,
    {
      op: 'get',
      id,
      ...(waitS > 0 && { wait: waitS }),
      ...(options.nodes === false && { nodes: false }),
      ...(options.offset !== undefined && { offset: options.offset }),
      ...(options.limit !== undefined && { limit: options.limit }),
    },
    options.timeoutMs ?? (waitS + 10) * 1000,
  ) as Promise<JobView>;
}

export function listJobs(client: AdmiralClient, limit = 50): Promise<JobView[]> {
  return call(client, { op: 'list', limit }, 10_000) as Promise<JobView[]>;
}

export function cancelJob(client: AdmiralClient, id: string): Promise<JobView> {
  return call(client, { op: 'cancel', id }, 10_000) as Promise<JobView>;
}

/** Nodes per page when a job's view is fetched whole (well under 1 MiB of max_payload). */
export const JOB_NODES_PAGE = 2000;

/** The job with every node's result, fetched in pages of JOB_NODES_PAGE nodes. */
export async function getJobWithNodes(client: AdmiralClient, id: string): Promise<JobView> {
  const nodes: JobNodeView[] = [];
  let view: JobView;
  do {
    view = await getJob(client, id, { offset: nodes.length, limit: JOB_NODES_PAGE });
    nodes.push(...(view.nodes ?? []));
  } while ((view.nodes?.length ?? 0) === JOB_NODES_PAGE);
  return { ...view, nodes };
}

/**
 * How long a wait for a job rides out a central that does not answer: a standby taking over
 * from a leader that died (docs/operations.md, "Scaling out") leads within a few seconds.
 */
export const FAILOVER_WAIT_MS = 30_000;

/**
 * Runs `read` (a request that changes nothing, so asking again is harmless) again while no
 * central answers it, for up to FAILOVER_WAIT_MS (or the client's --central-wait, if longer) in
 * a row; any other error, and the last unavailability, are thrown.
 */
export async function readThroughFailover<T>(
  client: AdmiralClient,
  read: () => Promise<T>,
): Promise<T> {
  let since: number | undefined;
  for (;;) {
    try {
      return await read();
    } catch (err) {
      if (!(err instanceof CentralUnavailableError)) throw err;
      since ??= Date.now();
      if (Date.now() - since >= Math.max(FAILOVER_WAIT_MS, client.centralWaitMs ?? 0)) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Seconds of one long poll while waiting for a job; short, so a leader that dies costs little. */
const LONG_POLL_S = 5;

/**
 * Waits for the job to end; `onProgress` gets the summary every `pollMs` while it runs. A central
 * that stops answering meanwhile (a failover) is asked again (readThroughFailover).
 */
export async function waitForJob(
  client: AdmiralClient,
  id: string,
  onProgress?: (job: JobView) => void,
  pollMs = 200,
): Promise<JobView> {
  const read = <T>(fn: () => Promise<T>): Promise<T> => readThroughFailover(client, fn);
  for (;;) {
    if (onProgress) {
      const job = await read(() => getJob(client, id, { nodes: false }));
      onProgress(job);
      if (job.state !== 'running') return read(() => getJobWithNodes(client, id));
      await new Promise((r) => setTimeout(r, pollMs));
    } else {
      // The long poll asks for no nodes: a large job's whole view would pass max_payload.
      const job = await read(() =>
        getJob(client, id, {
          waitS: LONG_POLL_S,
          nodes: false,
          timeoutMs: (LONG_POLL_S + 5) * 1000,
        }),
      );
      if (job.state !== 'running') return read(() => getJobWithNodes(client, id));
    }
  }
}
