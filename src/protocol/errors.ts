import { describeValue } from './describe.js';

// Errors of the wire contract. Each failure has one class with a stable `code`, a `name` equal to
// the class name, the original error as `cause` and structured fields (STYLE.md, "Errors").

export const PROTOCOL_ERROR_CODES = {
  invalidMessage: 'ADMIRAL_INVALID_MESSAGE',
  inputSyntax: 'ADMIRAL_INPUT_SYNTAX',
  invalidNodeName: 'ADMIRAL_INVALID_NODE_NAME',
  invalidSubject: 'ADMIRAL_INVALID_SUBJECT',
  decodeFailed: 'ADMIRAL_DECODE_FAILED',
  payloadTooLarge: 'ADMIRAL_PAYLOAD_TOO_LARGE',
  inputLimit: 'ADMIRAL_INPUT_LIMIT',
  invalidEnvelope: 'ADMIRAL_INVALID_ENVELOPE',
  invalidKey: 'ADMIRAL_INVALID_KEY',
  keyFile: 'ADMIRAL_KEY_FILE',
  signatureInvalid: 'ADMIRAL_SIGNATURE_INVALID',
  untrustedSigner: 'ADMIRAL_UNTRUSTED_SIGNER',
  messageExpired: 'ADMIRAL_MESSAGE_EXPIRED',
  messageFromFuture: 'ADMIRAL_MESSAGE_FROM_FUTURE',
  trustStore: 'ADMIRAL_TRUST_STORE',
} as const;
export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[keyof typeof PROTOCOL_ERROR_CODES];

interface ErrorOptions {
  cause?: unknown;
}

/** Base class of every error thrown by `src/protocol/`. */
export abstract class ProtocolError extends Error {
  abstract readonly code: ProtocolErrorCode;
}

/** A message failed schema validation; `issues` holds one readable line per problem. */
export class InvalidMessageError extends ProtocolError {
  override readonly name = 'InvalidMessageError';
  readonly code = PROTOCOL_ERROR_CODES.invalidMessage;
  constructor(
    readonly issues: readonly string[],
    options?: ErrorOptions,
  ) {
    super(`invalid message: ${issues.join('; ')}`, options);
  }
}

/** Operator input is neither valid JSON nor valid YAML. `line` and `column` are 1-based. */
export class InputSyntaxError extends ProtocolError {
  override readonly name = 'InputSyntaxError';
  readonly code = PROTOCOL_ERROR_CODES.inputSyntax;
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
    options?: ErrorOptions,
  ) {
    super(`syntax error at line ${line}, column ${column}: ${reason}`, options);
  }
}

/** A node name that could alter a subject (or is empty or too long). */
export class InvalidNodeNameError extends ProtocolError {
  override readonly name = 'InvalidNodeNameError';
  readonly code = PROTOCOL_ERROR_CODES.invalidNodeName;
  constructor(
    readonly node: string,
    readonly field = 'node name',
  ) {
    super(`Expected \`${field}\` to be 1 to 64 of A-Z a-z 0-9 _ -, got ${describeValue(node)}`);
  }
}

/** A subject token or prefix that is not allowed. */
export class InvalidSubjectError extends ProtocolError {
  override readonly name = 'InvalidSubjectError';
  readonly code = PROTOCOL_ERROR_CODES.invalidSubject;
  constructor(
    message: string,
    readonly subject: string,
  ) {
    super(message);
  }
}

/** Payload bytes could not be decompressed or are not JSON. */
export class DecodeError extends ProtocolError {
  override readonly name = 'DecodeError';
  readonly code = PROTOCOL_ERROR_CODES.decodeFailed;
  constructor(
    message: string,
    readonly compression: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A payload (or what it decompresses to) is larger than allowed: a decompression bomb or too big. */
export class PayloadTooLargeError extends ProtocolError {
  override readonly name = 'PayloadTooLargeError';
  readonly code = PROTOCOL_ERROR_CODES.payloadTooLarge;
  constructor(
    readonly limit: number,
    readonly compression: string,
    options?: ErrorOptions,
  ) {
    super(
      `payload exceeds ${limit} bytes${compression === 'none' ? '' : ` after ${compression} decompression`}`,
      options,
    );
  }
}

/** Decoded input nests too deep, or has too many entries or too long a string (limits.ts). */
export class InputLimitError extends ProtocolError {
  override readonly name = 'InputLimitError';
  readonly code = PROTOCOL_ERROR_CODES.inputLimit;
  constructor(
    /** What was decoded: `message`, `input`, `request`. */
    readonly what: string,
    /** The limit passed, as `JsonLimits` names it: `maxDepth`, `maxEntries`, … */
    readonly limit: 'maxDepth' | 'maxEntries' | 'maxStringLength' | 'maxKeyLength' | 'maxBytes',
    readonly max: number,
    readonly actual: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A decoded frame is not a valid envelope or ACK frame. */
export class InvalidEnvelopeError extends ProtocolError {
  override readonly name = 'InvalidEnvelopeError';
  readonly code = PROTOCOL_ERROR_CODES.invalidEnvelope;
  constructor(
    readonly issues: readonly string[],
    options?: ErrorOptions,
  ) {
    super(`invalid envelope: ${issues.join('; ')}`, options);
  }
}

/** A public key or seed that is not a valid ed25519 nkey. */
export class InvalidKeyError extends ProtocolError {
  override readonly name = 'InvalidKeyError';
  readonly code = PROTOCOL_ERROR_CODES.invalidKey;
}

/** A key file could not be read or written. */
export class KeyFileError extends ProtocolError {
  override readonly name = 'KeyFileError';
  readonly code = PROTOCOL_ERROR_CODES.keyFile;
  constructor(
    message: string,
    readonly path: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The signature does not match the message and signer. */
export class SignatureInvalidError extends ProtocolError {
  override readonly name = 'SignatureInvalidError';
  readonly code = PROTOCOL_ERROR_CODES.signatureInvalid;
  constructor(
    readonly messageId: string,
    readonly signer: string,
  ) {
    super(`bad signature on message ${messageId} from signer ${signer}`);
  }
}

/** The message is signed by a key that is not in the trust store. */
export class UntrustedSignerError extends ProtocolError {
  override readonly name = 'UntrustedSignerError';
  readonly code = PROTOCOL_ERROR_CODES.untrustedSigner;
  constructor(
    readonly messageId: string,
    readonly signer: string,
  ) {
    super(`message ${messageId} is signed by untrusted key ${signer}`);
  }
}

/** The message's `expiresAt` (capped at createdAt + the maximum ttl) has passed. */
export class MessageExpiredError extends ProtocolError {
  override readonly name = 'MessageExpiredError';
  readonly code = PROTOCOL_ERROR_CODES.messageExpired;
  constructor(
    readonly messageId: string,
    readonly expiresAt: number,
    readonly now: number,
    /** Set when expiresAt is the cap (createdAt + this many ms), not the message's own, later one. */
    readonly cappedByMaxTtlMs?: number,
  ) {
    super(
      `message ${messageId} expired at ${new Date(expiresAt).toISOString()} (${now - expiresAt} ms ago)${
        cappedByMaxTtlMs === undefined
          ? ''
          : `: its expiresAt is capped at createdAt + the maximum ttl (${cappedByMaxTtlMs / 1000} s)`
      }`,
    );
  }
}

/** The message's `createdAt` is further in the future than the clock skew allowance. */
export class MessageFromFutureError extends ProtocolError {
  override readonly name = 'MessageFromFutureError';
  readonly code = PROTOCOL_ERROR_CODES.messageFromFuture;
  constructor(
    readonly messageId: string,
    readonly createdAt: number,
    readonly now: number,
    readonly maxClockSkewMs: number,
  ) {
    super(
      `message ${messageId} was created ${createdAt - now} ms in the future, more than the allowed clock skew of ${maxClockSkewMs} ms`,
    );
  }
}

/** The trust store file could not be read or written, or is malformed. */
export class TrustStoreError extends ProtocolError {
  override readonly name = 'TrustStoreError';
  readonly code = PROTOCOL_ERROR_CODES.trustStore;
  constructor(
    message: string,
    readonly path: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
