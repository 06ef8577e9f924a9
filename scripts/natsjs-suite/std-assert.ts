// The part of jsr:@std/assert that nats.js's core tests use, on node:assert (jsr is not reachable here).
import nodeAssert from "node:assert";
import { isDeepStrictEqual } from "node:util";

export class AssertionError extends Error {
  override name = "AssertionError";
}

type ErrorClass = abstract new (...args: never[]) => Error;

function failWith(msg: string): never {
  throw new AssertionError(msg);
}

export function fail(msg?: string): never {
  failWith(`Failed assertion${msg ? `: ${msg}` : "."}`);
}

export function assert(expr: unknown, msg = ""): asserts expr {
  if (!expr) failWith(msg || "Expected actual to be truthy");
}

export function assertFalse(expr: unknown, msg = ""): void {
  if (expr) failWith(msg || "Expected actual to be falsy");
}

export function assertExists<T>(actual: T, msg = ""): asserts actual is NonNullable<T> {
  if (actual === undefined || actual === null) failWith(msg || `Expected actual to not be null or undefined`);
}

export function equal(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b);
}

export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.deepStrictEqual(actual, expected, msg);
}

export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  nodeAssert.notDeepStrictEqual(actual, expected, msg);
}

export function assertMatch(actual: string, expected: RegExp, msg?: string): void {
  nodeAssert.match(actual, expected, msg);
}

export function assertStringIncludes(actual: string, expected: string, msg?: string): void {
  if (!actual.includes(expected)) failWith(msg || `Expected actual: "${actual}" to contain: "${expected}"`);
}

export function assertArrayIncludes<T>(actual: ArrayLike<T>, expected: ArrayLike<T>, msg?: string): void {
  const missing = Array.from(expected).filter((e) => !Array.from(actual).some((a) => equal(a, e)));
  if (missing.length > 0) failWith(msg || `Expected actual to include ${JSON.stringify(missing)}`);
}

export function assertInstanceOf<T extends ErrorClass | (abstract new (...args: never[]) => unknown)>(
  actual: unknown,
  expectedType: T,
  msg = "",
): asserts actual is InstanceType<T> {
  if (!(actual instanceof expectedType)) {
    failWith(msg || `Expected object to be an instance of "${expectedType.name}"`);
  }
}

function checkError(err: unknown, errorClass?: ErrorClass, msgIncludes?: string, msg?: string): void {
  if (errorClass === undefined) return;
  if (!(err instanceof errorClass)) {
    failWith(msg || `Expected error to be instance of "${errorClass.name}", but was "${(err as Error)?.name}": ${String(err)}`);
  }
  if (msgIncludes !== undefined && !err.message.includes(msgIncludes)) {
    failWith(msg || `Expected error message to include "${msgIncludes}", but got "${err.message}"`);
  }
}

// assertThrows(fn, msg?) or assertThrows(fn, ErrorClass, msgIncludes?, msg?), as @std/assert.
export function assertThrows(fn: () => unknown, classOrMsg?: ErrorClass | string, msgIncludes?: string, msg?: string): unknown {
  const errorClass = typeof classOrMsg === "function" ? classOrMsg : undefined;
  try {
    fn();
  } catch (err) {
    checkError(err, errorClass, msgIncludes, msg);
    return err;
  }
  failWith(typeof classOrMsg === "string" ? classOrMsg : msg || "Expected function to throw.");
}

export async function assertRejects(
  fn: () => PromiseLike<unknown>,
  classOrMsg?: ErrorClass | string,
  msgIncludes?: string,
  msg?: string,
): Promise<unknown> {
  const errorClass = typeof classOrMsg === "function" ? classOrMsg : undefined;
  try {
    await fn();
  } catch (err) {
    checkError(err, errorClass, msgIncludes, msg);
    return err;
  }
  failWith(typeof classOrMsg === "string" ? classOrMsg : msg || "Expected function to reject.");
}
