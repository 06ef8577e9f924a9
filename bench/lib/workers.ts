// Client processes for benchmarks: each worker runs one role and reports over IPC, so the
// clients are spread over processes and the broker, not one client event loop, is measured.
import { type ChildProcess, fork } from 'node:child_process';

export interface WorkerReport {
  readonly count: number;
  readonly elapsedMs: number;
  readonly extra?: Record<string, number>;
}

export interface Worker {
  readonly child: ChildProcess;
  ready: Promise<void>;
  done: Promise<WorkerReport>;
  go(): void;
}

type FromWorker =
  { type: 'ready' } | ({ type: 'done' } & WorkerReport) | { type: 'error'; error: string };

export function startWorker(script: string, role: Record<string, unknown>): Worker {
  const child = fork(script, [JSON.stringify(role)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let readyResolve!: () => void;
  let doneResolve!: (r: WorkerReport) => void;
  let fail!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    fail = rej;
  });
  const done = new Promise<WorkerReport>((res, rej) => {
    doneResolve = res;
    const prev = fail;
    fail = (e) => {
      prev(e);
      rej(e);
    };
  });
  done.catch(() => undefined);
  child.on('message', (m: FromWorker) => {
    if (m.type === 'ready') readyResolve();
    else if (m.type === 'done')
      doneResolve({ count: m.count, elapsedMs: m.elapsedMs, extra: m.extra });
    else fail(new Error(m.error));
  });
  child.once('exit', (code) => {
    if (code !== 0) fail(new Error(`worker exited with ${code}`));
  });
  return { child, ready, done, go: () => child.send({ type: 'go' }) };
}

/** In a worker: announce readiness and wait for the parent's go. */
export function readyAndWait(): Promise<void> {
  return new Promise((resolve) => {
    process.once('message', () => resolve());
    process.send?.({ type: 'ready' });
  });
}

export function report(r: WorkerReport): void {
  process.send?.({ type: 'done', ...r }, () => process.exit(0));
}

export function reportError(err: unknown): void {
  process.send?.(
    { type: 'error', error: err instanceof Error ? (err.stack ?? err.message) : String(err) },
    () => process.exit(1),
  );
}
