// REQErrorLog: on central, append one line per error reported by any node. Steward's central
// error logger writes to <data>/errorLog/<central node>/error.log (its message carries
// directory "errorLog", fileName "error.log"), and its lines read:
//   Tue Sep 21 09:17:55 2021, info: toNode: ship2, fromNode: central, method: REQOpProcessList: max retries reached, …
// admiral keeps that shape and always names the node, the method and the message id.

import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { METHOD_ERROR_CODES } from './errors.js';
import { failure } from './output.js';
import { openRegularForAppend } from './regular-file.js';
import { resolveInside } from './safe-path.js';
import {
  type MethodContext,
  type MethodHandler,
  MethodKind,
  type MethodOutput,
  MethodStatus,
} from './types.js';

/** Steward's error log location inside the data dir. */
export const ERROR_LOG_DIRECTORY = 'errorLog';
export const ERROR_LOG_FILE_NAME = 'error.log';

/** One error as a node reports it to central (the JSON `data` of a REQErrorLog message). */
export interface ErrorLogFields {
  /** When the error happened; default: when central writes the line. ISO string in JSON. */
  readonly time?: Date | string;
  /** Steward's levels: error, warning, info; default error. */
  readonly level?: 'error' | 'warning' | 'info';
  /** The node where the error happened. */
  readonly node: string;
  /** The method of the message that failed. */
  readonly method: string;
  /** The id of the message that failed. */
  readonly messageId: string;
  readonly reason: string;
  /** The failed message's addressing, when known (Steward's line names both). */
  readonly toNode?: string;
  readonly fromNode?: string;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Go's time.ANSIC layout ("Mon Jan _2 15:04:05 2006"), in UTC. */
export function formatAnsic(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[date.getUTCDay()]} ${MONTHS[date.getUTCMonth()]} ${String(date.getUTCDate()).padStart(2, ' ')} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} ${date.getUTCFullYear()}`;
}

/** Keeps a field on one line: newlines and other control characters become visible escapes. */
function oneLine(text: string): string {
  let out = '';
  for (const ch of text.replace(/\r?\n/g, ' ')) {
    const code = ch.charCodeAt(0);
    // C0, DEL and C1 (U+009B is a CSI by itself).
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f);
    out += control ? `\\x${code.toString(16).padStart(2, '0')}` : ch;
  }
  return out;
}

/** One error-log line, ending in "\n", in Steward's shape. */
export function formatErrorLogLine(fields: ErrorLogFields): string {
  const time = fields.time === undefined ? new Date() : new Date(fields.time);
  const when = Number.isNaN(time.getTime()) ? formatAnsic(new Date()) : formatAnsic(time);
  const addressing = [
    fields.toNode ? `toNode: ${oneLine(fields.toNode)}, ` : '',
    fields.fromNode ? `fromNode: ${oneLine(fields.fromNode)}, ` : '',
  ].join('');
  return `${when}, ${fields.level ?? 'error'}: node: ${oneLine(fields.node)}, ${addressing}method: ${oneLine(fields.method)}, id: ${oneLine(fields.messageId)}: ${oneLine(fields.reason.trimEnd())}\n`;
}

/** Reads the fields from a REQErrorLog message: JSON ErrorLogFields, or plain text as the reason. */
export function errorLogFieldsOf(ctx: MethodContext): ErrorLogFields {
  const { request } = ctx;
  const data = request.data ?? '';
  try {
    const parsed: unknown = JSON.parse(data);
    if (
      parsed &&
      typeof parsed === 'object' &&
      typeof (parsed as ErrorLogFields).reason === 'string'
    ) {
      const f = parsed as Partial<ErrorLogFields> & { reason: string };
      return {
        ...f,
        node: typeof f.node === 'string' ? f.node : request.fromNode,
        method: typeof f.method === 'string' ? f.method : '-',
        messageId: typeof f.messageId === 'string' ? f.messageId : '-',
      };
    }
  } catch {
    // not JSON: a Steward-style text error
  }
  return { node: request.fromNode, method: '-', messageId: '-', reason: data };
}

async function appendErrorLog(ctx: MethodContext): Promise<MethodOutput> {
  try {
    const line = formatErrorLogLine(errorLogFieldsOf(ctx));
    const dir = `${ERROR_LOG_DIRECTORY}/${ctx.nodeName}`;
    const first = await resolveInside(ctx.dataDir, dir, ERROR_LOG_FILE_NAME);
    await mkdir(dirname(first), { recursive: true, mode: 0o750 });
    const target = await resolveInside(ctx.dataDir, dir, ERROR_LOG_FILE_NAME);
    const handle = await openRegularForAppend(target, 0o640);
    try {
      await handle.write(line); // one write per line: concurrent appends do not interleave
    } finally {
      await handle.close();
    }
    return { status: MethodStatus.ok, data: line };
  } catch (err) {
    return failure(err, METHOD_ERROR_CODES.fileFailed);
  }
}

export const errorLog: MethodHandler = {
  name: 'REQErrorLog',
  kind: MethodKind.event,
  run: appendErrorLog,
};
