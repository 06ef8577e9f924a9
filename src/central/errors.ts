// Errors of the central's broker services (bpbroker's). Their messages are the contract the CLI
// prints after `Fatal error: ` (seed 000: "Entry 'foo' already exists", "… not found").

/** `service register` on a name that exists. */
export class EntryExistsError extends Error {
  override readonly name = 'EntryExistsError';
  readonly code = 'ADMIRAL_ENTRY_EXISTS';
  constructor(readonly entry: string) {
    super(`Entry '${entry}' already exists`);
  }
}

/** `service get` on a name that does not exist. */
export class EntryNotFoundError extends Error {
  override readonly name = 'EntryNotFoundError';
  readonly code = 'ADMIRAL_ENTRY_NOT_FOUND';
  constructor(readonly entry: string) {
    super(`Entry '${entry}' not found`);
  }
}

/** A request without the access key its name or module requires; says nothing more. */
export class AccessDeniedError extends Error {
  override readonly name = 'AccessDeniedError';
  readonly code = 'ADMIRAL_ACCESS_DENIED';
  constructor() {
    super('access denied');
  }
}

/** A request the central could not read (bad JSON, missing field, bad name). */
export class BadRequestError extends Error {
  override readonly name = 'BadRequestError';
  readonly code = 'ADMIRAL_BAD_REQUEST';
}

/** An extension module or method that is not installed, failed, or ran past its timeout. */
export class ExtensionError extends Error {
  override readonly name = 'ExtensionError';
  readonly code = 'ADMIRAL_EXTENSION';
  constructor(
    message: string,
    readonly method: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The central did not answer a request (no responders, or no answer within the timeout). */
export class CentralUnavailableError extends Error {
  override readonly name = 'CentralUnavailableError';
  readonly code = 'ADMIRAL_CENTRAL_UNAVAILABLE';
  constructor(
    message: string,
    readonly subject: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The central answered with an error (its message is the reason). */
export class CentralServiceError extends Error {
  override readonly name = 'CentralServiceError';
  constructor(
    message: string,
    readonly code: string,
    readonly subject: string,
  ) {
    super(message);
  }
}

/** No discovery reply within the timeout. */
export class DiscoveryTimeoutError extends Error {
  override readonly name = 'DiscoveryTimeoutError';
  readonly code = 'ADMIRAL_DISCOVERY_TIMEOUT';
  constructor(
    readonly service: string,
    readonly timeoutMs: number,
  ) {
    super(`no central answered discovery of '${service}' within ${timeoutMs / 1000} s`);
  }
}
