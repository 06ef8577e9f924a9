// Shared helpers that turn what a method saw into a MethodOutput: output caps, abort reasons,
// failures as values (a method returns its failure; it does not throw it at the node).

import { MethodError } from './errors.js';
import { type MethodContext, type MethodOutput, MethodStatus } from './types.js';

/** Default time between SIGTERM and SIGKILL when a process group is stopped. */
export const DEFAULT_KILL_GRACE_MS = 2000;

/** The methodTimeout that applies to a request, in milliseconds. */
export function methodTimeoutMs(ctx: MethodContext): number {
  const seconds =
    ctx.request.methodTimeout > 0 ? ctx.request.methodTimeout : ctx.limits.defaultMethodTimeout;
  return Math.max(0, seconds) * 1000;
}

/** How an aborted run ends: the node aborts with reason 'timeout' (methodTimeout) or 'cancelled'. */
export function abortStatus(signal: AbortSignal): 'timeout' | 'cancelled' {
  const reason: unknown = signal.reason;
  if (reason === MethodStatus.timeout) return MethodStatus.timeout;
  if (reason instanceof Error && (reason.name === 'TimeoutError' || reason.message === 'timeout')) {
    return MethodStatus.timeout;
  }
  return MethodStatus.cancelled;
}

/** The sentence an aborted run reports in `error`. */
export function abortMessage(ctx: MethodContext, what: string): string {
  return abortStatus(ctx.signal) === MethodStatus.timeout
    ? `methodTimeout of ${methodTimeoutMs(ctx) / 1000} s reached; ${what}`
    : `cancelled; ${what}`;
}

/** Cuts `buf` to at most `cap` bytes without splitting a UTF-8 character. */
export function cutUtf8(buf: Buffer, cap: number): Buffer {
  if (buf.length <= cap) return buf;
  let end = cap;
  // Step back over continuation bytes (10xxxxxx) to the start of the character that was cut.
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end);
}

/** The note appended to `data` when output was cut at the cap. */
export function truncationNote(cap: number, total?: number): string {
  const of = total === undefined ? '' : ` of ${total}`;
  return `\n[admiral: output truncated at ${cap} bytes${of}; the node's limits.maxOutputBytes sets the cap]\n`;
}

/** A failure as a MethodOutput, keeping the stable code of a MethodError. */
export function failure(err: unknown, fallbackCode?: string): MethodOutput {
  const error = err instanceof Error ? err.message : String(err);
  const code = err instanceof MethodError ? err.code : fallbackCode;
  return { status: MethodStatus.error, data: '', error, ...(code ? { code } : {}) };
}

/** Resolves when `signal` aborts (immediately if it already has). */
export function whenAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
