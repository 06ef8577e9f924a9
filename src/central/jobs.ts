import type { Msg, NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../config/schema.js';
import { JobRequestError, type JobsRequest, parseJobSubmit } from '../fleet/job-request.js';
import type { JobView } from '../fleet/job-view.js';
import type { TargetCandidate } from '../fleet/target.js';
import { apiToken, hasBearer, unauthorized } from '../http/bearer.js';
import {
  HttpBodyTooLargeError,
  type HttpReply,
  type HttpRequest,
  type HttpRoute,
} from '../http/server.js';
import type { NodeContext, NodeExtension } from '../node/extension.js';
import {
  InputLimitError,
  isMessageId,
  ProtocolError,
  parseJsonBytes,
  type TrustLookup,
} from '../protocol/index.js';
import { verifyRequest } from '../protocol/signed-request.js';
import { toAmiral } from './job-amiral.js';
import { centralTrust, refusalText } from './trusted.js';
import { JobError, JobRunner, type JobSettings } from './job-runner.js';
import { JobJournal } from '../store/jetstream/jobs.js';
import type { CentralState, Leadership } from './leadership.js';
import type { CentralReply } from './wire.js';

// Central's job duty: the runner, `adm.central.jobs` for the CLI (signed requests from trusted
// keys) and the HTTP API (/api/v1/jobs, /api/v1/nodes; bearer token). docs/jobs.md.

export const JOBS_SERVICE = 'jobs';
/** Longest a `get` with `wait` holds its request, in s; clients ask again. */
const MAX_WAIT_S = 30;

export interface JobsExtensionOptions {
  readonly settings: JobSettings;
  /** Bearer token of the HTTP API; when absent, one is made in `<dataDir>/api-token`. */
  readonly httpToken?: string;
  /** The inventory's nodes (for `all`, `where` and GET /api/v1/nodes). */
  readonly candidates: () => readonly TargetCandidate[];
  /** Where the jobs' shared state lives: on JetStream they are journalled for a standby. */
  readonly state?: CentralState;
}

export interface JobsExtension extends NodeExtension {
  readonly runner: JobRunner | undefined;
}

export function jobsOptionsFromConfig(
  config: Config,
  candidates: JobsExtensionOptions['candidates'],
): JobsExtensionOptions {
  const j = config.central.jobs;
  return {
    settings: {
      retention: j.retention,
      ttl: j.ttl,
      methodTimeout: j.methodTimeout,
      replyGrace: j.replyGrace,
    },
    ...(config.central.http.token !== undefined && { httpToken: config.central.http.token }),
    candidates,
  };
}

/** A page of a job's nodes, when the request asks for one. */
function nodePage(offset: unknown, limit: unknown): { offset: number; limit: number } | undefined {
  if (offset === undefined && limit === undefined) return undefined;
  const int = (v: unknown, name: string, fallback: number): number => {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new JobRequestError(
        `Expected \`${name}\` to be a non-negative integer, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  return { offset: int(offset, 'offset', 0), limit: int(limit, 'limit', MAX_PAGE) };
}

/** Most nodes in one page of a job's view. */
const MAX_PAGE = 100_000;

/**
 * Sends a reply; one larger than the broker's max_payload (a job's view with every node of a
 * large job) is answered with an error that says so instead (nats.js throws, and a throw here
 * would end central).
 */
function respond(nc: NatsConnection, msg: Msg, reply: CentralReply): void {
  const text = JSON.stringify(reply);
  try {
    msg.respond(text);
  } catch (err) {
    const bytes = Buffer.byteLength(text);
    const max = nc.info?.max_payload;
    try {
      msg.respond(
        JSON.stringify({
          ok: false,
          code: 'ADMIRAL_JOB',
          error: `cannot send the answer (${bytes} bytes; the broker's max_payload is ${max ?? 'unknown'} bytes): ${String((err as Error).message ?? err)}; ask for a job's nodes in pages (get with offset and limit)`,
        } satisfies CentralReply),
      );
    } catch {
      // the connection is closed: nothing can be answered
    }
  }
}

function errorReply(err: unknown): CentralReply {
  const code =
    err instanceof JobError || err instanceof JobRequestError || err instanceof ProtocolError
      ? err.code
      : 'ADMIRAL_JOB';
  return { ok: false, code, error: refusalText(err) };
}

/** The job duty; `adm.central.jobs` is served only while this central leads. */
export function jobsExtension(
  options: JobsExtensionOptions,
  leadership: Leadership,
): JobsExtension {
  let runner: JobRunner | undefined;
  let stopServing: () => void = () => undefined;
  let token: string | undefined;

  let trust: TrustLookup = { has: () => false };

  /** A job id, or a unique prefix or suffix of one (4 characters or more, as git takes commits). */
  const jobIdOf = (r: JobRunner, id: unknown): string => {
    if (isMessageId(id)) return id;
    if (typeof id !== 'string' || !/^[0-9a-f-]{4,35}$/.test(id)) {
      throw new JobRequestError(
        `Expected \`id\` to be a job id or a unique start or end of it (4 characters or more), got ${JSON.stringify(id)}`,
      );
    }
    const found = r.store.idsMatching(id);
    if (found.length === 1) return found[0] as string;
    if (found.length === 0) throw new JobError(`no job ${id}`, 'ADMIRAL_JOB_NOT_FOUND');
    throw new JobRequestError(
      `job id part ${id} is ambiguous: ${found.join(', ')}, …; give more of it`,
    );
  };

  const handle = async (msg: Msg): Promise<CentralReply> => {
    const r = runner;
    if (!r) return { ok: false, code: 'ADMIRAL_JOB', error: 'the job service is not running' };
    const req = verifyRequest(msg.data, JOBS_SERVICE, trust);
    const body = req.body as JobsRequest;
    switch (body?.op) {
      case 'submit':
        return {
          ok: true,
          result: await r.submit(parseJobSubmit(body.job), req.signer, req.id),
        };
      case 'get': {
        const id = jobIdOf(r, body.id);
        const waitS = Math.min(MAX_WAIT_S, Math.max(0, Number(body.wait ?? 0)));
        const page = nodePage(body.offset, body.limit);
        const view = await r.wait(id, waitS * 1000, body.nodes !== false, page);
        if (!view) throw new JobError(`no job ${body.id}`, 'ADMIRAL_JOB_NOT_FOUND');
        return { ok: true, result: view };
      }
      case 'list':
        return { ok: true, result: r.list(Math.min(1000, Math.max(1, body.limit ?? 50))) };
      case 'cancel':
        return { ok: true, result: r.cancel(jobIdOf(r, body.id)) };
      default:
        throw new JobRequestError(
          `Expected \`op\` to be one of submit, get, list, cancel, got ${JSON.stringify((body as { op?: unknown })?.op)}`,
        );
    }
  };

  const guarded =
    (fn: (req: HttpRequest, r: JobRunner) => Promise<HttpReply>) =>
    async (req: HttpRequest): Promise<HttpReply> => {
      if (!hasBearer(req, token)) return unauthorized();
      if (!runner) return { status: 503, body: { error: 'the job service is not running' } };
      if (!leadership.leading) {
        const leader = leadership.view().leader;
        const error = `this central stands by: ${leader === undefined ? 'no central leads right now' : `${leader} leads`}; ask it`;
        return { status: 503, body: { error, leader: leader ?? null } };
      }
      return fn(req, runner);
    };

  const hostname = (node: string): string => {
    const facts = options.candidates().find((c) => c.node === node)?.facts;
    return typeof facts?.hostname === 'string' ? facts.hostname : node;
  };
  const jobReply = (view: JobView, req: HttpRequest, status = 200): HttpReply =>
    req.query.get('format') === 'amiral'
      ? { status, body: toAmiral(view, hostname) }
      : { status, body: view };

  const routes: HttpRoute[] = [
    {
      method: 'POST',
      path: '/api/v1/jobs',
      maxBody: 1024 * 1024,
      handler: guarded(async (req, r) => {
        let body: unknown;
        try {
          body = parseJsonBytes(await req.body(), 'request');
        } catch (err) {
          if (err instanceof InputLimitError) {
            return { status: 400, body: { error: err.message, code: err.code } };
          }
          if (err instanceof HttpBodyTooLargeError) throw err;
          return { status: 400, body: { error: 'Expected a JSON body' } };
        }
        try {
          const job = await r.submit(parseJobSubmit(body), 'http-api');
          const waitS = Number(req.query.get('wait') ?? 0);
          if (waitS > 0) {
            const done = await r.wait(job.id, Math.min(waitS, 3600) * 1000);
            return jobReply(done ?? job, req, 201);
          }
          return jobReply(job, req, 201);
        } catch (err) {
          if (err instanceof JobRequestError || err instanceof JobError) {
            return { status: 400, body: { error: err.message, code: err.code } };
          }
          throw err;
        }
      }),
    },
    {
      method: 'GET',
      path: '/api/v1/jobs',
      handler: guarded(async (req, r) => ({
        status: 200,
        body: r.list(Math.min(1000, Math.max(1, Number(req.query.get('limit') ?? 50) || 50))),
      })),
    },
    {
      method: 'GET',
      path: '/api/v1/jobs/',
      handler: guarded(async (req, r) => {
        const id = req.path.slice('/api/v1/jobs/'.length);
        if (!isMessageId(id)) return { status: 404, body: { error: `no job ${id}` } };
        const waitS = Math.min(3600, Math.max(0, Number(req.query.get('wait') ?? 0) || 0));
        const view = await r.wait(id, waitS * 1000);
        if (!view) return { status: 404, body: { error: `no job ${id}` } };
        return jobReply(view, req);
      }),
    },
    {
      method: 'DELETE',
      path: '/api/v1/jobs/',
      handler: guarded(async (req, r) => {
        const id = req.path.slice('/api/v1/jobs/'.length);
        try {
          return { status: 200, body: r.cancel(id) };
        } catch (err) {
          if (err instanceof JobError) {
            const status = err.code === 'ADMIRAL_JOB_NOT_FOUND' ? 404 : 409;
            return { status, body: { error: err.message, code: err.code } };
          }
          throw err;
        }
      }),
    },
    {
      method: 'GET',
      path: '/api/v1/nodes',
      handler: guarded(async () => ({ status: 200, body: options.candidates() })),
    },
  ];

  return {
    name: 'jobs',
    routes,
    get runner() {
      return runner;
    },
    async start(c: NodeContext) {
      trust = centralTrust(c);
      token = options.httpToken ?? apiToken(c.options.dataDir);
      const { state } = options;
      const journal =
        state?.backend === 'jetstream' ? await JobJournal.open(c.nc, state, c.identity) : undefined;
      const r = new JobRunner({
        ctx: c,
        settings: options.settings,
        candidates: options.candidates,
        log: c.options.log,
        ...(journal !== undefined && { journal }),
      });
      runner = r;
      r.start();
      const unhold = c.holdReplies((ids) => r.hold(ids));
      const serve = (): (() => void) => {
        const sub = c.nc.subscribe(c.subjects.central(JOBS_SERVICE), {
          callback: (err, msg) => {
            if (err) return;
            handle(msg)
              .then(
                (reply) => respond(c.nc, msg, reply),
                (e: unknown) => respond(c.nc, msg, errorReply(e)),
              )
              .catch((e: unknown) =>
                c.options.log('warn', 'jobs: cannot answer', { error: String(e) }),
              );
          },
        });
        return () => sub.unsubscribe();
      };
      // While it leads, in this order: take over the shared state's running jobs, take the
      // replies addressed to central (nodes hold them until then), then serve the job API.
      let stopLeading: (() => void) | undefined;
      let turn = Promise.resolve();
      const unwatch = leadership.watch((leading) => {
        turn = turn.then(async () => {
          if (leading && stopLeading === undefined && runner === r) {
            try {
              await r.takeOver();
            } catch (err) {
              c.options.log('error', 'cannot take over the running jobs', { error: String(err) });
            }
            if (!leadership.leading || runner !== r) return;
            c.receive(true);
            stopLeading = serve();
          } else if (!leading && stopLeading !== undefined) {
            stopLeading();
            stopLeading = undefined;
            if (journal !== undefined) {
              c.receive(false);
              r.suspend();
            }
          }
        });
      });
      stopServing = () => {
        unwatch();
        unhold();
        stopLeading?.();
        stopLeading = undefined;
      };
    },
    async stop() {
      stopServing();
      runner?.stop();
      runner = undefined;
    },
  };
}
