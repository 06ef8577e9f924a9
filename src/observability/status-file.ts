import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as z from 'zod';

// Choria's status file: written on an interval so monitoring can tell whether the node is alive,
// connected and receiving messages (`choria tool status --message-since 10m --max-age 1h`).

export const NodeStatusSchema = z.object({
  /** Node name. */
  identity: z.string(),
  /** admiral version. */
  version: z.string(),
  /** Seconds since the node started. */
  uptime: z.number(),
  /** Broker URL the node is connected to, or null while disconnected. */
  connectedServer: z.string().nullable(),
  /** Unix seconds of the last message received, or null. */
  lastMessage: z.number().nullable(),
  /** Unix seconds when this file was written. */
  updated: z.number(),
  stats: z.object({
    received: z.number(),
    rejected: z.number(),
    executed: z.number(),
    sent: z.number(),
    outboxPending: z.number(),
  }),
});
export type NodeStatus = z.infer<typeof NodeStatusSchema>;

/** Writes the status atomically (temp file + rename), so a reader never sees half a file. */
export function writeStatusFile(path: string, status: NodeStatus): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(status, null, 2)}\n`, { mode: 0o644 });
  renameSync(tmp, path);
}

export interface HealthCriteria {
  /** Unhealthy when no message was received within this many seconds. */
  readonly messageSince?: number;
  /** Unhealthy when the file was last written more than this many seconds ago. */
  readonly maxAge?: number;
}

/** Reads a status file and lists what is wrong with the node; an empty list means healthy. */
export function checkStatusFile(
  path: string,
  criteria: HealthCriteria,
  now = Date.now() / 1000,
): string[] {
  let status: NodeStatus;
  try {
    status = NodeStatusSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
  } catch (err) {
    const reason =
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? 'does not exist'
        : 'is not a valid status file';
    return [`${path} ${reason}`];
  }
  const problems: string[] = [];
  const at = (s: number): string => new Date(s * 1000).toISOString();
  if (criteria.maxAge !== undefined && now - status.updated > criteria.maxAge) {
    problems.push(`${path} is too old: last written at ${at(status.updated)}`);
  }
  if (status.connectedServer === null) problems.push(`${path} not connected to a broker`);
  if (criteria.messageSince !== undefined) {
    if (status.lastMessage === null) problems.push(`${path} no recent messages: none received`);
    else if (now - status.lastMessage > criteria.messageSince) {
      problems.push(`${path} no recent messages: last message at ${at(status.lastMessage)}`);
    }
  }
  return problems;
}
