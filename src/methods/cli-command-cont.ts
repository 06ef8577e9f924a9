// REQCliCommandCont: run methodArgs as argv and stream every output line (stdout and stderr) as
// it comes, each a chunk ending in "\n" as Steward sends them; the final output carries the exit
// code. At methodTimeout or cancel the command's whole process group is stopped, unless the
// command had ended by itself by then.

import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { withoutSecretEnv } from '../config/secret-env.js';
import { substituteStewardData } from './cli-command.js';
import { BadMethodArgsError, METHOD_ERROR_CODES } from './errors.js';
import {
  abortMessage,
  abortStatus,
  cutUtf8,
  DEFAULT_KILL_GRACE_MS,
  failure,
  sleep,
  truncationNote,
  whenAborted,
} from './output.js';
import { killGroup, processStartTime, sameProcessAlive } from './process-group.js';
import {
  type MethodContext,
  type MethodHandler,
  MethodKind,
  type MethodOutput,
  MethodStatus,
} from './types.js';

/** Splits a byte stream into lines, keeping each "\n"; `flush` returns the unterminated rest. */
export class LineSplitter {
  #rest: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): string[] {
    const buf = this.#rest.length === 0 ? chunk : Buffer.concat([this.#rest, chunk]);
    const lines: string[] = [];
    let start = 0;
    for (let nl = buf.indexOf(10, start); nl !== -1; nl = buf.indexOf(10, start)) {
      lines.push(buf.subarray(start, nl + 1).toString('utf8'));
      start = nl + 1;
    }
    this.#rest = Buffer.from(buf.subarray(start));
    return lines;
  }

  /** Bytes waiting for their "\n". */
  get pending(): number {
    return this.#rest.length;
  }

  flush(): string | undefined {
    if (this.#rest.length === 0) return undefined;
    const line = this.#rest.toString('utf8');
    this.#rest = Buffer.alloc(0);
    return line;
  }
}

async function runCommandCont(ctx: MethodContext): Promise<MethodOutput> {
  const { request, limits } = ctx;
  if (request.methodArgs.length === 0 || request.methodArgs[0] === '') {
    return failure(
      new BadMethodArgsError(
        `Expected methodArgs to be [command, ...arguments], got ${JSON.stringify(request.methodArgs)}`,
        request.method,
      ),
    );
  }
  if (ctx.signal.aborted) {
    return { status: abortStatus(ctx.signal), data: '', error: abortMessage(ctx, 'not started') };
  }
  const cap = limits.maxOutputBytes;
  const graceMs = limits.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const { argv, env } = substituteStewardData(request.methodArgs, request.data);
  const [command, ...args] = argv as [string, ...string[]];

  const child = spawn(command, args, {
    cwd: ctx.dataDir,
    env: { ...withoutSecretEnv(process.env), ...env },
    detached: true, // the command leads its own process group
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null } | Error>(
    (resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => resolve(err));
    },
  );

  let sent = 0;
  let truncated = false;
  const emitLine = (line: string, stream: 'stdout' | 'stderr'): void => {
    if (truncated) return;
    const bytes = Buffer.byteLength(line);
    if (sent + bytes > cap) {
      const room = cap - sent;
      if (room > 0) ctx.emit({ data: cutUtf8(Buffer.from(line), room).toString('utf8'), stream });
      sent = cap;
      truncated = true;
      return;
    }
    sent += bytes;
    ctx.emit({ data: line, stream });
  };
  const pump = (readable: Readable, stream: 'stdout' | 'stderr'): Promise<void> => {
    const splitter = new LineSplitter();
    return new Promise((resolve) => {
      readable.on('data', (chunk: Buffer) => {
        for (const line of splitter.push(chunk)) emitLine(line, stream);
        // A line longer than the cap is sent cut rather than held in memory.
        if (splitter.pending > cap) emitLine(splitter.flush() ?? '', stream);
      });
      readable.once('close', () => {
        const rest = splitter.flush();
        if (rest !== undefined) emitLine(rest, stream);
        resolve();
      });
    });
  };
  const drained = Promise.all([pump(child.stdout, 'stdout'), pump(child.stderr, 'stderr')]);

  const pgid = child.pid;
  // Its start time goes with the pid: a pid reused meanwhile is never signalled.
  const startTime = pgid === undefined ? undefined : processStartTime(pgid);
  const leader =
    pgid === undefined ? undefined : { pid: pgid, ...(startTime !== undefined && { startTime }) };
  let first = await Promise.race([exited, whenAborted(ctx.signal).then(() => 'aborted' as const)]);
  // A node stalled past its deadline (a GC pause, SIGSTOP) wakes to its timer before it reaps
  // its child: a command that ended meanwhile (a zombie now) reports how it ended.
  if (first === 'aborted' && leader !== undefined && !sameProcessAlive(leader))
    first = await exited;
  if (first instanceof Error) return failure(first, METHOD_ERROR_CODES.commandFailed);
  if (first === 'aborted') {
    const gone = leader === undefined ? true : await killGroup(leader, graceMs);
    await exited;
    await Promise.race([drained, sleep(200)]);
    child.stdout.destroy();
    child.stderr.destroy();
    const what = gone ? `process group ${pgid} killed` : `process group ${pgid} signalled`;
    return {
      status: abortStatus(ctx.signal),
      data: truncated ? truncationNote(cap) : '',
      error: abortMessage(ctx, what),
      ...(truncated ? { truncated } : {}),
    };
  }
  // A background process of the command may hold the pipes open; its lines until now were sent.
  await Promise.race([drained, sleep(200)]);
  child.stdout.destroy();
  child.stderr.destroy();
  // As a shell reports it: death by signal N is 128 + N.
  const exitCode = first.code ?? 128 + (first.signal ? (constants.signals[first.signal] ?? 0) : 0);
  const ok = first.code === 0;
  return {
    status: ok ? MethodStatus.ok : MethodStatus.error,
    data: truncated ? truncationNote(cap) : '',
    exitCode,
    ...(ok
      ? {}
      : {
          error: first.signal
            ? `command was killed by ${first.signal}`
            : `command exited with code ${first.code}`,
          code: METHOD_ERROR_CODES.commandFailed,
        }),
    ...(truncated ? { truncated } : {}),
  };
}

export const cliCommandCont: MethodHandler = {
  name: 'REQCliCommandCont',
  kind: MethodKind.stream,
  privileged: true,
  run: runCommandCont,
};
