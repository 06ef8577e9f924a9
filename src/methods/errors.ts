// Errors of the method handlers. Each failure has one class with a stable `code`, a `name` equal to
// the class name, the original error as `cause` and structured fields (STYLE.md, "Errors").

export const METHOD_ERROR_CODES = {
  methodNotFound: 'ADMIRAL_METHOD_NOT_FOUND',
  unsafePath: 'ADMIRAL_UNSAFE_PATH',
  readNotAllowed: 'ADMIRAL_READ_NOT_ALLOWED',
  badMethodArgs: 'ADMIRAL_BAD_METHOD_ARGS',
  commandFailed: 'ADMIRAL_COMMAND_FAILED',
  httpFailed: 'ADMIRAL_HTTP_FAILED',
  fileFailed: 'ADMIRAL_FILE_FAILED',
  notRegularFile: 'ADMIRAL_NOT_REGULAR_FILE',
  copyFailed: 'ADMIRAL_COPY_FAILED',
  notRunning: 'ADMIRAL_NOT_RUNNING',
  noServices: 'ADMIRAL_NO_NODE_SERVICES',
} as const;
export type MethodErrorCode = (typeof METHOD_ERROR_CODES)[keyof typeof METHOD_ERROR_CODES];

interface ErrorOptions {
  cause?: unknown;
}

/** Base class of every error thrown by `src/methods/`. */
export abstract class MethodError extends Error {
  abstract readonly code: MethodErrorCode;
}

/** No handler is registered under the requested method name. */
export class MethodNotFoundError extends MethodError {
  override readonly name = 'MethodNotFoundError';
  readonly code = METHOD_ERROR_CODES.methodNotFound;
  constructor(
    readonly method: string,
    readonly known: readonly string[],
    options?: ErrorOptions,
  ) {
    super(
      `Expected a known method, got ${JSON.stringify(method)}; this node handles: ${known.join(', ')}`,
      options,
    );
  }
}

/** A path given by a message would write outside the data dir (`..`, NUL, symlink, absolute). */
export class UnsafePathError extends MethodError {
  override readonly name = 'UnsafePathError';
  readonly code = METHOD_ERROR_CODES.unsafePath;
  constructor(
    message: string,
    readonly path: string,
    readonly root: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A file-reading method was asked for a path outside the node's `paths.readAllow` list. */
export class ReadNotAllowedError extends MethodError {
  override readonly name = 'ReadNotAllowedError';
  readonly code = METHOD_ERROR_CODES.readNotAllowed;
  constructor(
    message: string,
    readonly path: string,
    readonly allow: readonly string[],
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A method was asked to read (or append to) a FIFO, a socket, a device or a directory. */
export class NotRegularFileError extends MethodError {
  override readonly name = 'NotRegularFileError';
  readonly code = METHOD_ERROR_CODES.notRegularFile;
  constructor(
    readonly path: string,
    /** What it is instead: "a FIFO", "a socket", "a character device", … */
    readonly type: string,
    options?: ErrorOptions & { written?: boolean },
  ) {
    super(
      `${path} is ${type}, not a regular file; only regular files are ${options?.written === true ? 'written' : 'read'}`,
      options,
    );
  }
}

/** `methodArgs` do not have the shape the method needs. */
export class BadMethodArgsError extends MethodError {
  override readonly name = 'BadMethodArgsError';
  readonly code = METHOD_ERROR_CODES.badMethodArgs;
  constructor(
    message: string,
    readonly method: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A file copy (REQCopyFileFrom / REQCopyFileTo) could not complete: hash mismatch, lost chunk. */
export class CopyFailedError extends MethodError {
  override readonly name = 'CopyFailedError';
  readonly code = METHOD_ERROR_CODES.copyFailed;
  constructor(
    message: string,
    readonly transferId: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** REQCancel or REQOpProcessStop named a message that is not running on this node. */
export class NotRunningError extends MethodError {
  override readonly name = 'NotRunningError';
  readonly code = METHOD_ERROR_CODES.notRunning;
  constructor(
    readonly id: string,
    readonly node: string,
    options?: ErrorOptions,
  ) {
    super(
      `Expected message ${id} to be running on ${node}, but it is not (finished, or never ran here)`,
      options,
    );
  }
}

/** A method that acts on the node itself ran without the node's services (outside a node). */
export class NoNodeServicesError extends MethodError {
  override readonly name = 'NoNodeServicesError';
  readonly code = METHOD_ERROR_CODES.noServices;
  constructor(
    readonly method: string,
    options?: ErrorOptions,
  ) {
    super(`${method} needs the node's services (it runs only inside a node)`, options);
  }
}
