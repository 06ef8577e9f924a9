import type { JobView } from '../fleet/job-view.js';

// A job's result in amiral's reply shape (seed 002: `POST /amiral/fleet` answered
// `{"count", "message", "resps": [{in_reply_to, uuid, status, output, hostname}]}`), for tools
// written against it. A node whose command ran is `complete` with `output.exit`; others carry
// admiral's state (noop, expired, did-not-answer, …) as their status.

export interface AmiralResponse {
  readonly in_reply_to: string;
  readonly uuid?: string;
  readonly status: string;
  readonly output?: {
    readonly exit?: number;
    readonly short: string;
    readonly stderr?: string;
    readonly error?: string;
  };
  readonly hostname: string;
  /** admiral's node name (hostnames need not be unique). */
  readonly node: string;
}

export interface AmiralReply {
  readonly count: number;
  readonly message: string;
  readonly resps: readonly AmiralResponse[];
}

/** `hostname` is the node's `hostname` fact when known, else its node name. */
export function toAmiral(job: JobView, hostname: (node: string) => string = (n) => n): AmiralReply {
  const resps: AmiralResponse[] = [];
  const lines: string[] = [];
  for (const n of job.nodes ?? []) {
    const ran = n.exitCode !== undefined;
    const host = hostname(n.node);
    const short = (n.output ?? '').trimEnd();
    resps.push({
      in_reply_to: job.id,
      ...(n.messageId !== undefined && { uuid: n.messageId }),
      status: ran ? 'complete' : n.state,
      ...((ran || n.output !== undefined || n.error !== undefined) && {
        output: {
          ...(n.exitCode !== undefined && { exit: n.exitCode }),
          short,
          ...(n.stderr !== undefined && { stderr: n.stderr }),
          ...(n.error !== undefined && { error: n.error }),
        },
      }),
      hostname: host,
      node: n.node,
    });
    if (ran) lines.push(`${host}: ${short}`);
  }
  return { count: lines.length, message: lines.join('\n'), resps };
}
