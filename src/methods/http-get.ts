// REQHttpGet: fetch methodArgs[0] (http or https only) and return the body as data. Bounded by
// methodTimeout (the node's abort signal) and by limits.maxOutputBytes: reading stops at the cap
// and the data ends with a note saying so.

import { BadMethodArgsError, METHOD_ERROR_CODES } from './errors.js';
import { abortMessage, abortStatus, cutUtf8, failure, truncationNote } from './output.js';
import {
  type MethodContext,
  type MethodHandler,
  MethodKind,
  type MethodOutput,
  MethodStatus,
} from './types.js';

function parseUrl(raw: string | undefined, method: string): URL {
  let url: URL;
  try {
    url = new URL(raw ?? '');
  } catch (err) {
    throw new BadMethodArgsError(
      `Expected methodArgs[0] to be an http or https URL, got ${JSON.stringify(raw ?? null)}`,
      method,
      { cause: err },
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new BadMethodArgsError(
      `Expected methodArgs[0] to be an http or https URL, got the scheme ${JSON.stringify(url.protocol)}`,
      method,
    );
  }
  return url;
}

async function runHttpGet(ctx: MethodContext): Promise<MethodOutput> {
  const { request, limits } = ctx;
  let url: URL;
  try {
    url = parseUrl(request.methodArgs[0], request.method);
  } catch (err) {
    return failure(err);
  }
  const cap = limits.maxOutputBytes;
  const parts: Buffer[] = [];
  let received = 0;
  let truncated = false;
  let response: Response | undefined;
  try {
    response = await fetch(url, { signal: ctx.signal, redirect: 'follow' });
    if (response.body) {
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const chunk = Buffer.from(value);
        if (received + chunk.length > cap) {
          parts.push(chunk.subarray(0, cap - received));
          received = cap;
          truncated = true;
          await reader.cancel(); // stop reading past the cap; closes the connection
          break;
        }
        parts.push(chunk);
        received += chunk.length;
      }
    }
  } catch (err) {
    const partial = Buffer.concat(parts).toString('utf8');
    if (ctx.signal.aborted) {
      return {
        status: abortStatus(ctx.signal),
        data: partial,
        error: abortMessage(ctx, `GET ${url.href} stopped after ${received} bytes`),
      };
    }
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    return {
      status: MethodStatus.error,
      data: partial,
      error: `GET ${url.href} failed: ${why}`,
      code: METHOD_ERROR_CODES.httpFailed,
    };
  }
  const body = Buffer.concat(parts);
  const data = truncated
    ? cutUtf8(body, cap).toString('utf8') + truncationNote(cap)
    : body.toString('utf8');
  const ok = response.ok;
  return {
    status: ok ? MethodStatus.ok : MethodStatus.error,
    data,
    ...(ok
      ? {}
      : {
          error: `GET ${url.href} answered ${response.status} ${response.statusText}`,
          code: METHOD_ERROR_CODES.httpFailed,
        }),
    ...(truncated ? { truncated } : {}),
  };
}

export const httpGet: MethodHandler = {
  name: 'REQHttpGet',
  kind: MethodKind.request,
  privileged: true,
  idempotent: true,
  run: runHttpGet,
};
