import { ENVELOPE_VERSION, PUBLIC_KEY_PATTERN, SIGNATURE_PATTERN } from './envelope.js';
import { UUIDV7_PATTERN } from './id.js';
import { MAX_PROOF_STEPS, PROOF_STEP_PATTERN } from './merkle.js';
import type { Message } from './message.js';
import { MAX_TTL_SECONDS, REPLY_STATUSES } from './message.js';
import { METHOD_NAMES } from './methods.js';
import { NODE_NAME_PATTERN } from './node-name.js';

// The schema check of an envelope (envelope.ts) for the shapes every reply and request has, in
// plain code: zod's pass over a received envelope was the largest validation cost of a fleet
// job's replies on central (bench/fleet). It accepts only what the schema accepts (a test in
// test/protocol/fast-envelope.test.ts checks that over many crafted envelopes) and gives up
// (undefined) on anything else, rare fields included: the schema then decides and names the
// problem. The schema stays the one definition of a message.

const METHODS: ReadonlySet<string> = new Set(METHOD_NAMES);
const STATUSES: ReadonlySet<string> = new Set(REPLY_STATUSES);

type Check = (v: unknown) => boolean;

const isNodeName: Check = (v) => typeof v === 'string' && NODE_NAME_PATTERN.test(v);
const isMethod: Check = (v) => typeof v === 'string' && METHODS.has(v);
const isStrings: Check = (v) => Array.isArray(v) && v.every((s) => typeof s === 'string');
const isSeconds: Check = (v) => Number.isSafeInteger(v) && (v as number) >= 0;
const isText: Check = (v) => typeof v === 'string' && !v.includes('\0');
const isId: Check = (v) => typeof v === 'string' && UUIDV7_PATTERN.test(v);
const isBoolean: Check = (v) => typeof v === 'boolean';

/** The fields checked here; any other (toNodes, where, previousMessage, unknown) gives up. */
const FIELDS: Readonly<Record<string, Check>> = {
  toNode: isNodeName,
  method: isMethod,
  methodArgs: isStrings,
  replyMethod: isMethod,
  replyMethodArgs: isStrings,
  ACKTimeout: isSeconds,
  retries: isSeconds,
  replyACKTimeout: isSeconds,
  replyRetries: isSeconds,
  methodTimeout: isSeconds,
  replyMethodTimeout: isSeconds,
  directory: isText,
  fileName: isText,
  data: isStrings,
  isReply: isBoolean,
  fromNode: isNodeName,
  relayViaNode: isNodeName,
  relayFromNode: isNodeName,
  relayToNode: isNodeName,
  relayOriginalMethod: isMethod,
  relayReplyMethod: isMethod,
  id: isId,
  createdAt: isSeconds,
  ttl: (v) => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_TTL_SECONDS,
  expiresAt: isSeconds,
  jobId: isId,
  inReplyTo: isId,
  seq: isSeconds,
  final: isBoolean,
  status: (v) => typeof v === 'string' && STATUSES.has(v),
  exitCode: (v) => Number.isSafeInteger(v),
  error: isText,
  stderr: (v) => typeof v === 'string',
};

const ENVELOPE_KEYS: ReadonlySet<string> = new Set(['v', 'msg', 'sig', 'signer', 'proof']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isMessage(m: unknown): m is Message {
  if (!isPlainObject(m)) return false;
  for (const key of Object.keys(m)) {
    // Own fields only: `constructor` or `__proto__` must not find Object.prototype's.
    if (!Object.hasOwn(FIELDS, key) || !(FIELDS[key] as Check)(m[key])) return false;
  }
  // Required on the wire; one target (toNode: `where` is left to the schema); times in order.
  return (
    m.id !== undefined &&
    m.fromNode !== undefined &&
    m.method !== undefined &&
    m.toNode !== undefined &&
    typeof m.createdAt === 'number' &&
    typeof m.expiresAt === 'number' &&
    m.expiresAt > m.createdAt
  );
}

/**
 * `value` as an envelope when it is one of the common shapes and valid (as the schema would
 * find it); undefined when this check cannot say (then ask the schema).
 */
export function fastEnvelope(value: unknown): { msg: Message } | undefined {
  if (!isPlainObject(value)) return undefined;
  for (const key of Object.keys(value)) if (!ENVELOPE_KEYS.has(key)) return undefined;
  const { v, msg, sig, signer, proof } = value;
  if (v !== ENVELOPE_VERSION || typeof sig !== 'string' || !SIGNATURE_PATTERN.test(sig)) {
    return undefined;
  }
  if (typeof signer !== 'string' || !PUBLIC_KEY_PATTERN.test(signer)) return undefined;
  if (
    proof !== undefined &&
    !(
      Array.isArray(proof) &&
      proof.length >= 1 &&
      proof.length <= MAX_PROOF_STEPS &&
      proof.every((s) => typeof s === 'string' && PROOF_STEP_PATTERN.test(s))
    )
  ) {
    return undefined;
  }
  return isMessage(msg) ? (value as { msg: Message }) : undefined;
}
