// The methods module's surface: the registry, the handler contract and reusable helpers.

export { cancel, cancelRunning } from './cancel.js';
export {
  cliCommand,
  runDirFor,
  STEWARD_DATA_PLACEHOLDER,
  type StewardDataSubstitution,
  substituteStewardData,
} from './cli-command.js';
export { cliCommandCont, LineSplitter } from './cli-command-cont.js';
export {
  type CopyFileOptions,
  copyFileFrom,
  copyFileTo,
  createCopyFileFrom,
  DEFAULT_CHUNK_BYTES,
  DEFAULT_WINDOW,
} from './copy-file.js';
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
  CopyFailedError,
  METHOD_ERROR_CODES,
  MethodError,
  type MethodErrorCode,
  MethodNotFoundError,
  NoNodeServicesError,
  NotRunningError,
  ReadNotAllowedError,
  UnsafePathError,
} from './errors.js';
export { hello } from './hello.js';
export { httpGet } from './http-get.js';
export { none } from './none.js';
export { opProcessList, opProcessStart, opProcessStop, processLines } from './op-process.js';
export { abortStatus, DEFAULT_KILL_GRACE_MS, methodTimeoutMs } from './output.js';
export { ping, pong } from './ping.js';
export { groupAlive, groupMembers, killGroup } from './process-group.js';
export { createMethodRegistry, METHOD_HANDLERS, type MethodRegistry } from './registry.js';
export { relay, wrapForRelay } from './relay.js';
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
  type NodeServices,
  type SentStatus,
} from './types.js';
