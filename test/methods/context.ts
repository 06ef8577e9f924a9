// A MethodContext for tests: a temp data dir, captured chunks, console lines and logs.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type {
  MethodChunk,
  MethodContext,
  MethodLimits,
  MethodRequest,
} from '../../src/methods/types.js';

export interface TestMethodContext extends MethodContext {
  readonly chunks: MethodChunk[];
  readonly consoleLines: string[];
  readonly logs: { level: string; msg: string; fields?: Record<string, unknown> }[];
  readonly controller: AbortController;
}

let counter = 0;

/** A message id like the node's (ULID alphabet), unique per call. */
export function newId(): string {
  counter += 1;
  return `01TEST${process.pid}X${Date.now().toString(36).toUpperCase()}X${counter}`;
}

export async function tempDir(t: TestContext, prefix = 'admiral-methods-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function makeContext(
  dataDir: string,
  request: Partial<MethodRequest> & { method: string },
  limits: Partial<MethodLimits> = {},
): TestMethodContext {
  const controller = new AbortController();
  const chunks: MethodChunk[] = [];
  const consoleLines: string[] = [];
  const logs: TestMethodContext['logs'] = [];
  return {
    request: {
      id: newId(),
      fromNode: 'central',
      toNode: 'ship1',
      methodArgs: [],
      methodTimeout: 0,
      ...request,
    },
    nodeName: 'ship1',
    dataDir,
    limits: {
      maxOutputBytes: 10 * 1024 * 1024,
      readAllow: [dataDir],
      defaultMethodTimeout: 10,
      killGraceMs: 500,
      ...limits,
    },
    signal: controller.signal,
    controller,
    chunks,
    consoleLines,
    logs,
    emit: (chunk) => {
      chunks.push(chunk);
    },
    console: (line) => {
      consoleLines.push(line);
    },
    log: (level, msg, fields) => {
      logs.push({ level, msg, ...(fields ? { fields } : {}) });
    },
  };
}

/** Aborts the context's signal after `ms` with `reason` ('timeout' as the node does). */
export function abortAfter(
  t: TestContext,
  ctx: TestMethodContext,
  ms: number,
  reason: 'timeout' | 'cancelled',
): void {
  const timer = setTimeout(() => ctx.controller.abort(reason), ms);
  t.after(() => clearTimeout(timer));
}
