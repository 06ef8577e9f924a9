// An example admiral extension module (bpbroker's example_extension_module.py).
//
//   admiral install-extension examples/extensions/hello.mjs
//   admiral execute --method hello.greet --data world      # prints: hello world
//
// Every exported function is a method, called as method(data, context) in its own child
// process on the central: `data` is the --data string, `context` holds { method, clientIp }.
// Return a string (printed as it is), any JSON value (printed as JSON), or a promise of one.
// A throw becomes the caller's error; a method running past central.extensions.timeout is killed.

/** Greets whoever --data names. */
export function greet(data) {
  return `hello ${data || 'world'}`;
}

/** Returns what it was called with, as JSON: shows the context a method receives. */
export function whoami(data, context) {
  return { data, method: context.method, clientIp: context.clientIp };
}

/** Waits --data milliseconds (default 100) before answering: async methods work too. */
export async function sleep(data) {
  const ms = Number(data) || 100;
  await new Promise((resolve) => setTimeout(resolve, ms));
  return `slept ${ms} ms`;
}
