import { pathToFileURL } from 'node:url';

// The child process an extension method runs in (forked by extensions.ts): it imports the
// module, runs one method or lists the methods, sends one answer over IPC and exits. Whatever
// the module does (throws, hangs, exits, exhausts memory) stays in this process.

type Task =
  | { kind: 'check'; file: string }
  | { kind: 'run'; file: string; method: string; data: string; context: Record<string, unknown> };

export type RunnerAnswer =
  | { ok: true; methods: string[] }
  | { ok: true; result: unknown }
  | { ok: false; code: 'load' | 'unknown-method' | 'threw' | 'result'; error: string };

type Fn = (...args: unknown[]) => unknown;

function methodsOf(mod: Record<string, unknown>): Map<string, Fn> {
  const out = new Map<string, Fn>();
  const def = mod.default;
  if (typeof def === 'object' && def !== null) {
    for (const [k, v] of Object.entries(def)) if (typeof v === 'function') out.set(k, v as Fn);
  }
  for (const [k, v] of Object.entries(mod)) {
    if (k !== 'default' && typeof v === 'function') out.set(k, v as Fn);
  }
  return out;
}

function message(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

async function perform(task: Task): Promise<RunnerAnswer> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(task.file).href)) as Record<string, unknown>;
  } catch (err) {
    return { ok: false, code: 'load', error: message(err) };
  }
  const methods = methodsOf(mod);
  if (task.kind === 'check') return { ok: true, methods: [...methods.keys()].sort() };
  const fn = methods.get(task.method);
  if (fn === undefined) return { ok: false, code: 'unknown-method', error: task.method };
  let result: unknown;
  try {
    result = await fn(task.data, task.context);
  } catch (err) {
    return { ok: false, code: 'threw', error: message(err) };
  }
  try {
    // The answer crosses IPC as JSON: check it survives the trip.
    return { ok: true, result: result === undefined ? null : JSON.parse(JSON.stringify(result)) };
  } catch (err) {
    return { ok: false, code: 'result', error: `result is not JSON: ${message(err)}` };
  }
}

process.once('message', (task: Task) => {
  void perform(task).then((answer) => {
    process.send?.(answer, () => process.exit(0));
  });
});
