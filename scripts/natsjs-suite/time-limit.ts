// Preloaded before nats.js's tests: gives each Deno.test a time limit, so a test that waits for a
// feature the server lacks (2.9.10 has no message tracing, for one) fails instead of hanging the run,
// and names it `<file> > <test name>`.
const limitMs = Number(Deno.env.get("NATSJS_TEST_TIMEOUT_MS") ?? "30000");
const register = Deno.test;
type Fn = (t: Deno.TestContext) => void | Promise<void>;

function limited(name: string, fn: Fn): Fn {
  return async (t) => {
    let timer: number | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name}: no result within ${limitMs} ms`)), limitMs);
    });
    try {
      await Promise.race([fn(t), expired]);
    } finally {
      clearTimeout(timer);
    }
  };
}

(Deno as { test: unknown }).test = (...args: unknown[]) => {
  const fnAt = args.findIndex((a) => typeof a === "function");
  const def = (typeof args[0] === "object" ? args[0] : typeof args[1] === "object" ? args[1] : {}) as Deno.TestDefinition;
  const given = typeof args[0] === "string" ? args[0] : def.name ?? (args[fnAt] as Fn | undefined)?.name ?? "test";
  // The report would place every test here: the name carries the test file instead.
  const file = /core\/tests\/([\w.-]+\.ts)/.exec(new Error().stack ?? "")?.[1] ?? "?";
  const name = `${file} > ${given}`;
  const fn = (fnAt >= 0 ? args[fnAt] : def.fn) as Fn;
  return register({ ...def, name, fn: limited(name, fn) });
};
