import * as z from 'zod';
import {
  COMPRESSION,
  type Compression,
  type DecodeOptions,
  decodeJson,
  encodeJson,
} from './codec.js';
import { formatIssues } from './describe.js';
import { fastEnvelope } from './fast-envelope.js';
import { InvalidEnvelopeError } from './errors.js';
import { UUIDV7_PATTERN } from './id.js';
import { MAX_PROOF_STEPS, PROOF_STEP_PATTERN } from './merkle.js';
import { MESSAGE_FIELDS, messageSchema } from './message.js';

// What goes over NATS. A message travels inside a signed envelope; the receiver answers the NATS
// request with an ACK frame once the message is stored in its inbox (DESIGN.md, "How a message
// travels"). Both are JSON, optionally compressed (codec.ts).

export const ENVELOPE_VERSION = 1;

/** An nkey public key: role prefix (U user, N server, A account, O operator), base32, 56 chars. */
export const PUBLIC_KEY_PATTERN = /^[UNAO][A-Z2-7]{55}$/;
/** An ed25519 signature (64 bytes) in base64url without padding. */
export const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{86}$/;

export const envelopeSchema = z.strictObject(
  {
    v: z.literal(ENVELOPE_VERSION, { error: `envelope version ${ENVELOPE_VERSION}` }),
    msg: messageSchema,
    sig: z
      .string({ error: 'an ed25519 signature in base64url' })
      .regex(SIGNATURE_PATTERN, { error: 'an ed25519 signature in base64url' }),
    signer: z
      .string({ error: 'an nkey public key' })
      .regex(PUBLIC_KEY_PATTERN, { error: 'an nkey public key' }),
    // Set when `sig` signs a batch (merkle.ts): the path from this message to the signed root.
    proof: z
      .array(
        z
          .string({ error: 'a Merkle path step (L or R, then a SHA-256 hash in base64url)' })
          .regex(PROOF_STEP_PATTERN, {
            error: 'a Merkle path step (L or R, then a SHA-256 hash in base64url)',
          }),
        { error: 'an array of Merkle path steps' },
      )
      .min(1, { error: 'a non-empty array of Merkle path steps' })
      .max(MAX_PROOF_STEPS, { error: `at most ${MAX_PROOF_STEPS} Merkle path steps` })
      .optional(),
  },
  { error: 'an envelope object' },
);
export type Envelope = z.output<typeof envelopeSchema>;

export const ACK_STATUS = {
  /** Committed to the receiver's inbox; it will run. */
  stored: 'stored',
  /** The id was seen before; acknowledged again, not run again. */
  duplicate: 'duplicate',
  /** Refused (signature, trust, policy, expiry, validation); `error` says why. Do not resend. */
  rejected: 'rejected',
} as const;
export type AckStatus = (typeof ACK_STATUS)[keyof typeof ACK_STATUS];

export const ackFrameSchema = z.strictObject(
  {
    ack: z.string({ error: 'a message id' }).regex(UUIDV7_PATTERN, { error: 'a message id' }),
    status: z.enum([ACK_STATUS.stored, ACK_STATUS.duplicate, ACK_STATUS.rejected], {
      error: 'one of stored, duplicate, rejected',
    }),
    code: z.string({ error: 'an error code' }).optional(),
    error: z.string({ error: 'an error message' }).optional(),
  },
  { error: 'an ACK object' },
);
export type AckFrame = z.output<typeof ackFrameSchema>;

export function encodeEnvelope(
  envelope: Envelope,
  compression: Compression = COMPRESSION.none,
): Uint8Array {
  return encodeJson(envelope, compression);
}

/** Decodes and validates an envelope (signature not checked: see `verifyMessage`). */
export function decodeEnvelope(bytes: Uint8Array, options: DecodeOptions = {}): Envelope {
  const value = decodeJson(bytes, options);
  // The common shapes in plain code, else the schema (which also names what is wrong).
  return (fastEnvelope(value) as Envelope | undefined) ?? validate(envelopeSchema, value);
}

export function encodeAck(frame: AckFrame): Uint8Array {
  return encodeJson(frame);
}

export function decodeAck(bytes: Uint8Array, options: DecodeOptions = {}): AckFrame {
  return validate(ackFrameSchema, decodeJson(bytes, options));
}

function validate<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value, { reportInput: true });
  if (r.success) return r.data;
  throw new InvalidEnvelopeError(formatIssues(r.error.issues, MESSAGE_FIELDS), { cause: r.error });
}
