// The registry maps Steward's method names to their handlers; the node looks a method up here.

import { cancel } from './cancel.js';
import { cliCommand } from './cli-command.js';
import { cliCommandCont } from './cli-command-cont.js';
import { copyFileFrom, copyFileTo } from './copy-file.js';
import { errorLog } from './error-log.js';
import { MethodNotFoundError } from './errors.js';
import { hello } from './hello.js';
import { httpGet } from './http-get.js';
import { none } from './none.js';
import { opProcessList, opProcessStart, opProcessStop } from './op-process.js';
import { ping, pong } from './ping.js';
import { relay } from './relay.js';
import { tailFile } from './tail-file.js';
import { toConsole } from './to-console.js';
import { toFile, toFileAppend } from './to-file.js';
import type { MethodHandler } from './types.js';

export { MethodNotFoundError } from './errors.js';

export interface MethodRegistry {
  /** The handler for `name`; throws MethodNotFoundError when there is none. */
  get(name: string): MethodHandler;
  has(name: string): boolean;
  /** Registered method names, sorted. */
  names(): string[];
}

/** Every handler this module provides, in the order of Steward's documentation. */
export const METHOD_HANDLERS: readonly MethodHandler[] = [
  opProcessList,
  opProcessStart,
  opProcessStop,
  cliCommand,
  cliCommandCont,
  tailFile,
  httpGet,
  hello,
  copyFileFrom,
  copyFileTo,
  errorLog,
  ping,
  pong,
  none,
  toConsole,
  toFileAppend,
  toFile,
  relay,
  cancel,
];

export function createMethodRegistry(
  handlers: readonly MethodHandler[] = METHOD_HANDLERS,
): MethodRegistry {
  const byName = new Map<string, MethodHandler>();
  for (const handler of handlers) {
    if (byName.has(handler.name)) throw new Error(`method ${handler.name} is registered twice`);
    byName.set(handler.name, handler);
  }
  const names = [...byName.keys()].sort();
  return {
    get(name) {
      const handler = byName.get(name);
      if (!handler) throw new MethodNotFoundError(name, names);
      return handler;
    },
    has: (name) => byName.has(name),
    names: () => [...names],
  };
}
