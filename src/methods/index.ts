// The methods module's surface: the registry, the handler contract and reusable helpers.

export {
  cliCommand,
  runDirFor,
  STEWARD_DATA_PLACEHOLDER,
  type StewardDataSubstitution,
  substituteStewardData,
} from './cli-command.js';
export { cliCommandCont, LineSplitter } from './cli-command-cont.js';
export {
  ERROR_LOG_DIRECTORY,
  ERROR_LOG_FILE_NAME,
  type ErrorLogFields,
  errorLog,
  errorLogFieldsOf,
  formatAnsic,
  formatErrorLogLine,
} from './error-log.js';
export {
  BadMethodArgsError,
  METHOD_ERROR_CODES,
  MethodError,
  type MethodErrorCode,
  MethodNotFoundError,
  ReadNotAllowedError,
  UnsafePathError,
} from './errors.js';
export { hello } from './hello.js';
export { httpGet } from './http-get.js';
export { none } from './none.js';
export { abortStatus, DEFAULT_KILL_GRACE_MS, methodTimeoutMs } from './output.js';
export { ping, pong } from './ping.js';
export { groupAlive, groupMembers, killGroup } from './process-group.js';
export { createMethodRegistry, METHOD_HANDLERS, type MethodRegistry } from './registry.js';
export { resolveInside, resolveReadable } from './safe-path.js';
export { createTailFile, type TailFileOptions, tailFile } from './tail-file.js';
export { toConsole } from './to-console.js';
export { toFile, toFileAppend } from './to-file.js';
export {
  type MethodChunk,
  type MethodContext,
  type MethodHandler,
  MethodKind,
  type MethodLimits,
  type MethodOutput,
  type MethodRequest,
  MethodStatus,
} from './types.js';
