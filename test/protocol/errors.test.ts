import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
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
} from '../../src/protocol/index.js';

const cause = new Error('low level');
const cases: [ProtocolError, string][] = [
  [new InvalidMessageError(['x'], { cause }), 'ADMIRAL_INVALID_MESSAGE'],
  [new InputSyntaxError('bad', 1, 2, { cause }), 'ADMIRAL_INPUT_SYNTAX'],
  [new InputLimitError('input', 'maxDepth', 64, 65, 'too deep', { cause }), 'ADMIRAL_INPUT_LIMIT'],
  [new InvalidNodeNameError('a.b'), 'ADMIRAL_INVALID_NODE_NAME'],
  [new InvalidSubjectError('bad', 'a.>'), 'ADMIRAL_INVALID_SUBJECT'],
  [new DecodeError('bad', 'gzip', { cause }), 'ADMIRAL_DECODE_FAILED'],
  [new PayloadTooLargeError(10, 'zstd', { cause }), 'ADMIRAL_PAYLOAD_TOO_LARGE'],
  [new InvalidEnvelopeError(['x'], { cause }), 'ADMIRAL_INVALID_ENVELOPE'],
  [new InvalidKeyError('bad', { cause }), 'ADMIRAL_INVALID_KEY'],
  [new KeyFileError('bad', '/k', { cause }), 'ADMIRAL_KEY_FILE'],
  [new SignatureInvalidError('id', 'U'), 'ADMIRAL_SIGNATURE_INVALID'],
  [new UntrustedSignerError('id', 'U'), 'ADMIRAL_UNTRUSTED_SIGNER'],
  [new MessageExpiredError('id', 1, 2), 'ADMIRAL_MESSAGE_EXPIRED'],
  [new MessageFromFutureError('id', 9, 1, 5), 'ADMIRAL_MESSAGE_FROM_FUTURE'],
  [new TrustStoreError('bad', '/t', { cause }), 'ADMIRAL_TRUST_STORE'],
];

describe('protocol errors', () => {
  test('every error code has exactly one class', () => {
    assert.deepEqual(
      cases.map(([, code]) => code).sort(),
      Object.values(PROTOCOL_ERROR_CODES).sort(),
    );
  });

  for (const [error, code] of cases) {
    test(`${error.constructor.name} has code ${code}, its class name as name, and keeps its cause`, () => {
      assert.equal(error.code, code);
      assert.equal(error.name, error.constructor.name);
      assert.ok(error instanceof ProtocolError);
      assert.ok(error instanceof Error);
      if ('cause' in error && error.cause !== undefined) assert.equal(error.cause, cause);
    });
  }

  test('a node-name error names the field, the rule and the value', () => {
    assert.equal(
      new InvalidNodeNameError('a.b', 'toNode').message,
      'Expected `toNode` to be 1 to 64 of A-Z a-z 0-9 _ -, got `"a.b"` (string)',
    );
  });
});
