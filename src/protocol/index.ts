// The wire contract's public surface. Values and types are exported in separate lists.
export { canonicalJson } from './canonical.js';
export type { Compression, DecodeOptions } from './codec.js';
export {
  COMPRESSION,
  compress,
  DEFAULT_MAX_DECODED_BYTES,
  decodeJson,
  decompress,
  detectCompression,
  encodeJson,
  parseCompression,
} from './codec.js';
export { describeValue } from './describe.js';
export type { AckFrame, AckStatus, Envelope } from './envelope.js';
export {
  ACK_STATUS,
  ackFrameSchema,
  decodeAck,
  decodeEnvelope,
  ENVELOPE_VERSION,
  encodeAck,
  encodeEnvelope,
  envelopeSchema,
  PUBLIC_KEY_PATTERN,
  SIGNATURE_PATTERN,
} from './envelope.js';
export type { ProtocolErrorCode } from './errors.js';
export {
  DecodeError,
  InputLimitError,
  InputSyntaxError,
  InvalidEnvelopeError,
  InvalidKeyError,
  InvalidMessageError,
  InvalidNodeNameError,
  InvalidSubjectError,
  KeyFileError,
  MessageExpiredError,
  MessageFromFutureError,
  PayloadTooLargeError,
  PROTOCOL_ERROR_CODES,
  ProtocolError,
  SignatureInvalidError,
  TrustStoreError,
  UntrustedSignerError,
} from './errors.js';
export type { FreshnessOptions } from './freshness.js';
export {
  cappedExpiry,
  checkFreshness,
  DEFAULT_MAX_CLOCK_SKEW_MS,
  DEFAULT_MAX_TTL_MS,
  dedupHorizon,
} from './freshness.js';
export type { JsonLimits } from './limits.js';
export {
  checkJsonText,
  checkJsonValue,
  checkYamlText,
  DEFAULT_JSON_LIMITS,
  jsonLimits,
  parseJsonBytes,
  parseJsonText,
} from './limits.js';
export { isMessageId, messageIdTime, newMessageId, UUIDV7_PATTERN } from './id.js';
export type { InputResult, RejectedMessage } from './input.js';
export { parseInput, readDocuments } from './input.js';
export type { CompletionContext, Message, MessageInput, ParseResult } from './message.js';
export {
  ADMIRAL_FIELDS,
  assertMessage,
  completeMessage,
  DEFAULT_TTL_SECONDS,
  DEFAULT_MAX_TTL_SECONDS,
  MAX_TTL_SECONDS,
  MESSAGE_FIELDS,
  messageInputSchema,
  messageJsonSchema,
  messageSchema,
  parseMessage,
  parseMessageInput,
  STEWARD_FIELDS,
} from './message.js';
export type { MethodName } from './methods.js';
export {
  canonicalMethodName,
  closestNames,
  DEFAULT_REPLY_METHOD,
  isMethodName,
  METHOD_ALIASES,
  METHOD_NAMES,
  REQUEST_METHODS,
} from './methods.js';
export {
  assertNodeName,
  isValidNodeName,
  NODE_NAME_MAX_LENGTH,
  NODE_NAME_PATTERN,
} from './node-name.js';
export type { ReplyOptions } from './reply.js';
export { createReply } from './reply.js';
export type { Identity, KeyRole, TrustLookup } from './signing.js';
export {
  canonicalSigningBytes,
  generateIdentity,
  identityFromRawSeed,
  identityFromSeed,
  isPublicKey,
  isValidSignature,
  KEY_ROLES,
  loadIdentity,
  loadOrCreateIdentity,
  publicKeyBytes,
  saveIdentity,
  signMessage,
  signMessages,
  envelopeSigningText,
  verifyMessage,
} from './signing.js';
export type { EventName, ParsedSubject } from './subjects.js';
export { DEFAULT_SUBJECT_PREFIX, EVENTS, Subjects } from './subjects.js';
export type { TrustedKey, TrustStore } from './trust.js';
export { FileTrustStore, MemoryTrustStore } from './trust.js';
export { SignatureVerifier, signatureVerifier } from './verifier.js';
export { eventSigner, eventVerifyItem, isEventSignedBy, signEvent } from './event.js';
