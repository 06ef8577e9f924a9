import { requestCentral } from '../central/client.js';
import type { AdmiralClient } from '../client/connect.js';
import { signRequest } from '../protocol/signed-request.js';
import type { JobSubmit, JobsRequest } from './job-request.js';
import type { JobView } from './job-view.js';

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
  options: { waitS?: number; nodes?: boolean } = {},
): Promise<JobView> {
  const waitS = options.waitS ?? 0;
  return call(
    client,
    {
      op: 'get',
      id,
      ...(waitS > 0 && { wait: waitS }),
      ...(options.nodes === false && { nodes: false }),
    },
    (waitS + 10) * 1000,
  ) as Promise<JobView>;
}

export function listJobs(client: AdmiralClient, limit = 50): Promise<JobView[]> {
  return call(client, { op: 'list', limit }, 10_000) as Promise<JobView[]>;
}

export function cancelJob(client: AdmiralClient, id: string): Promise<JobView> {
  return call(client, { op: 'cancel', id }, 10_000) as Promise<JobView>;
}

/** Waits for the job to end; `onProgress` gets the summary every `pollMs` while it runs. */
export async function waitForJob(
  client: AdmiralClient,
  id: string,
  onProgress?: (job: JobView) => void,
  pollMs = 200,
): Promise<JobView> {
  for (;;) {
    if (onProgress) {
      const job = await getJob(client, id, { nodes: false });
      onProgress(job);
      if (job.state !== 'running') return getJob(client, id);
      await new Promise((r) => setTimeout(r, pollMs));
    } else {
      const job = await getJob(client, id, { waitS: 25 });
      if (job.state !== 'running') return job;
    }
  }
}
