import * as z from 'zod';
import { formatIssues } from './describe.js';
import { InvalidMessageError } from './errors.js';
import { newMessageId, UUIDV7_PATTERN } from './id.js';
import { canonicalMethodName, closestNames, METHOD_NAMES } from './methods.js';
import { NODE_NAME_PATTERN } from './node-name.js';

// The message: one zod schema that is the source of validation, TypeScript types and the JSON
// Schema in docs/message-format.md. Field names, types and meanings are Steward's (seed 003,
// "Schema for the messages to send into Steward via the API's" and "Message fields explanation");
// admiral's additions follow them. Each schema's `error` is the expected phrase used by
// describe.ts to write "Expected `field` to be <phrase>, got <value> (<type>)".

/** How a request ended on the node that ran it (a reply's `status`). */
export const REPLY_STATUSES = [
  'ok',
  'error',
  'timeout',
  'cancelled',
  'interrupted',
  'noop',
  'expired',
] as const;

/** Time to live (seconds) given to a message that names neither `ttl` nor `expiresAt`. */
export const DEFAULT_TTL_SECONDS = 3600;
/** Ten years: longer time-to-live values are surely mistakes (and overflow ms arithmetic). */
export const MAX_TTL_SECONDS = 315_360_000;
/** Longest time to live a node gives a message it sends or accepts (config `messages.maxTtl`). */
export const DEFAULT_MAX_TTL_SECONDS = 604_800;

const NODE_NAME = 'a node name (1 to 64 of A-Z a-z 0-9 _ -)';
const NON_NEGATIVE_INT = 'a non-negative integer';

function expectedMethod(input: unknown): string {
  if (typeof input !== 'string') return 'a method name such as `REQCliCommand`';
  const near = closestNames(input, METHOD_NAMES);
  return near.length > 0
    ? `a known method name (closest: ${near.map((n) => `\`${n}\``).join(', ')})`
    : `a known method name (one of ${METHOD_NAMES.join(', ')})`;
}

const nodeName = () =>
  z.string({ error: NODE_NAME }).regex(NODE_NAME_PATTERN, { error: NODE_NAME });
const methodName = () => z.enum(METHOD_NAMES, { error: (issue) => expectedMethod(issue.input) });
const strings = () => z.array(z.string({ error: 'a string' }), { error: 'an array of strings' });
const seconds = () =>
  z
    .int({ error: `${NON_NEGATIVE_INT} (seconds)` })
    .min(0, { error: `${NON_NEGATIVE_INT} (seconds)` });
const text = () =>
  z.string({ error: 'a string' }).regex(/^[^\0]*$/, { error: 'a string without NUL bytes' });
const epochMs = () =>
  z
    .int({ error: 'a Unix time in milliseconds (integer)' })
    .min(0, { error: 'a Unix time in milliseconds (non-negative integer)' });
const messageId = () =>
  z.string({ error: 'a lowercase UUIDv7' }).regex(UUIDV7_PATTERN, { error: 'a lowercase UUIDv7' });
const jsonObject = (what: string) => z.record(z.string(), z.unknown(), { error: what });

/** Steward's fields, names and types exactly as its documentation gives them. */
const stewardFields = {
  toNode: nodeName().optional().describe('The node to send the message to.'),
  toNodes: z
    .array(nodeName(), { error: 'an array of node names' })
    .min(1, { error: 'a non-empty array of node names' })
    .optional()
    .describe('Several nodes to send the same message to; expanded into one message per node.'),
  method: methodName().describe('What request type to use, like REQCliCommand, REQHttpGet.'),
  methodArgs: strings()
    .optional()
    .describe('Arguments of the method, e.g. the command and its arguments for REQCliCommand.'),
  replyMethod: methodName()
    .optional()
    .describe('The method that handles the result on the node the message came from.'),
  replyMethodArgs: strings().optional().describe('Arguments of the reply method.'),
  ACKTimeout: seconds().optional().describe('Seconds to wait for an ACK before resending.'),
  retries: seconds().optional().describe('How many times to resend when no ACK arrives.'),
  replyACKTimeout: seconds().optional().describe('ACKTimeout of the reply message.'),
  replyRetries: seconds().optional().describe('retries of the reply message.'),
  methodTimeout: seconds().optional().describe('Seconds the method may run before it is stopped.'),
  replyMethodTimeout: seconds()
    .optional()
    .describe('Seconds the reply method may run before it is stopped.'),
  directory: text()
    .optional()
    .describe('Directory (inside the data folder) for results written by the reply method.'),
  fileName: text().optional().describe('File name for results written by the reply method.'),
  data: strings()
    .optional()
    .describe('The payload: for a reply, the output of the method that ran.'),
  isReply: z
    .boolean({ error: 'a boolean' })
    .optional()
    .describe('Set on reply messages (Steward).'),
  fromNode: nodeName()
    .optional()
    .describe('The node the message originated from; set by the sending node.'),
  previousMessage: jsonObject('a message object')
    .optional()
    .describe('Steward: a copy of the request a reply answers. Carried, not interpreted.'),
  relayViaNode: nodeName().optional().describe('The node to relay the message via.'),
  relayFromNode: nodeName()
    .optional()
    .describe('The node a relayed message originated from, where the end result goes.'),
  relayToNode: nodeName().optional().describe('The toNode of the original relayed message.'),
  relayOriginalMethod: methodName().optional().describe('The method of the original message.'),
  relayReplyMethod: methodName()
    .optional()
    .describe('The method that handles the reply when it is back where the relay started.'),
};

/** admiral's additions. All are optional on input; the sending node fills id, times and fromNode. */
const admiralFields = {
  id: messageId()
    .optional()
    .describe('Globally unique message id (UUIDv7); receivers deduplicate by it.'),
  createdAt: epochMs().optional().describe('When the message was made, Unix time in ms.'),
  ttl: z
    .int({ error: 'a positive integer (seconds)' })
    .min(1, { error: 'a positive integer (seconds)' })
    .max(MAX_TTL_SECONDS, { error: `at most ${MAX_TTL_SECONDS} seconds (ten years)` })
    .optional()
    .describe('Time to live in seconds from createdAt; used when expiresAt is not given.'),
  expiresAt: epochMs()
    .optional()
    .describe('Unix time in ms after which the message is not delivered or run.'),
  where: jsonObject('an object of fact filters')
    .optional()
    .describe('Broadcast filter: the message goes to every node whose facts match.'),
  jobId: messageId().optional().describe('The job (fleet run) this message belongs to.'),
  inReplyTo: messageId().optional().describe('On a reply: the id of the request it answers.'),
  seq: z
    .int({ error: NON_NEGATIVE_INT })
    .min(0, { error: NON_NEGATIVE_INT })
    .optional()
    .describe('On a reply: its position in a stream of replies, from 0.'),
  final: z
    .boolean({ error: 'a boolean' })
    .optional()
    .describe('On a reply: true on the last reply of a stream.'),
  status: z
    .enum(REPLY_STATUSES, {
      error: `one of ${REPLY_STATUSES.join(', ')}`,
    })
    .optional()
    .describe('On a reply: how the request ended on the node that ran it.'),
  exitCode: z
    .int({ error: 'an integer' })
    .optional()
    .describe('On a reply to a command: its exit code.'),
  error: text().optional().describe('On a reply: why the request failed, when it did.'),
  stderr: z
    .string({ error: 'a string' })
    .optional()
    .describe('On a reply to a command: its standard error.'),
};

const inputShape = { ...stewardFields, ...admiralFields };

/** Every field name the schema knows, Steward's first. */
export const MESSAGE_FIELDS: readonly string[] = Object.keys(inputShape);
export const STEWARD_FIELDS: readonly string[] = Object.keys(stewardFields);
export const ADMIRAL_FIELDS: readonly string[] = Object.keys(admiralFields);

type Ctx = z.core.$RefinementCtx;

function issue(ctx: Ctx, message: string, path: string[] = []): void {
  ctx.addIssue({ code: 'custom', message, path, input: undefined });
}

function checkTimes(m: { createdAt?: number; expiresAt?: number }, ctx: Ctx): void {
  if (m.createdAt !== undefined && m.expiresAt !== undefined && m.expiresAt <= m.createdAt) {
    issue(
      ctx,
      `Expected \`expiresAt\` to be after \`createdAt\` (${m.createdAt}), got \`${m.expiresAt}\` (number)`,
      ['expiresAt'],
    );
  }
}

/** What an operator writes: Steward's message, optionally with admiral's additions. */
export const messageInputSchema = z
  .strictObject(inputShape, { error: 'an object' })
  .superRefine((m, ctx) => {
    const targets = (['toNode', 'toNodes', 'where'] as const).filter((k) => m[k] !== undefined);
    if (targets.length === 0) {
      issue(
        ctx,
        'Expected one of `toNode`, `toNodes` or `where` to name the target, got none of them',
      );
    } else if (targets.length > 1) {
      issue(
        ctx,
        `Expected only one of \`toNode\`, \`toNodes\` or \`where\`, got ${targets.map((t) => `\`${t}\``).join(' and ')}`,
      );
    }
    if (m.ttl !== undefined && m.expiresAt !== undefined) {
      issue(ctx, 'Expected either `ttl` or `expiresAt`, got both', ['ttl']);
    }
    checkTimes(m, ctx);
  });

/**
 * A message as it travels: one target (`toNode`, or `where` for broadcast), with id, fromNode,
 * createdAt and expiresAt always present.
 */
export const messageSchema = z
  .strictObject(
    {
      ...inputShape,
      id: admiralFields.id.unwrap(),
      fromNode: stewardFields.fromNode.unwrap(),
      createdAt: admiralFields.createdAt.unwrap(),
      expiresAt: admiralFields.expiresAt.unwrap(),
    },
    { error: 'an object' },
  )
  .superRefine((m, ctx) => {
    if (m.toNodes !== undefined) {
      issue(ctx, 'Expected no `toNodes` on a sent message (it is expanded into one per node)', [
        'toNodes',
      ]);
    }
    if ((m.toNode === undefined) === (m.where === undefined)) {
      issue(ctx, 'Expected exactly one of `toNode` or `where` on a sent message');
    }
    checkTimes(m, ctx);
  });

export type MessageInput = z.output<typeof messageInputSchema>;
export type Message = z.output<typeof messageSchema>;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: string[] };

const fieldByLowerCase = new Map(MESSAGE_FIELDS.map((f) => [f.toLowerCase(), f]));
const methodFields = ['method', 'replyMethod', 'relayOriginalMethod', 'relayReplyMethod'];

/**
 * Steward decodes messages with Go's encoding/json, which matches keys case-insensitively: its own
 * docs write `replyMethodTimeOut` and `RelayViaNode`. Keys are mapped to their canonical spelling
 * the same way, and the older method spellings to current ones.
 */
function normalize(raw: unknown): { value: unknown; errors: string[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { value: raw, errors: [] };
  }
  const out: Record<string, unknown> = {};
  const from: Record<string, string> = {};
  const errors: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    const canonical = key in inputShape ? key : (fieldByLowerCase.get(key.toLowerCase()) ?? key);
    if (canonical in out) {
      errors.push(
        `Field \`${canonical}\` is given twice, as \`${from[canonical]}\` and \`${key}\``,
      );
      continue;
    }
    from[canonical] = key;
    out[canonical] =
      methodFields.includes(canonical) && typeof value === 'string'
        ? canonicalMethodName(value)
        : value;
  }
  return { value: out, errors };
}

/** Most problems reported for one message; an array of 100,000 wrong items is one sentence more. */
export const MAX_REPORTED_ERRORS = 20;

function run<T>(schema: z.ZodType<T>, raw: unknown): ParseResult<T> {
  const { value, errors } = normalize(raw);
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success && errors.length === 0) return { ok: true, value: result.data };
  const issues = result.success ? [] : result.error.issues;
  const problems =
    errors.length + issues.reduce((n, i) => n + ('keys' in i ? i.keys.length : 1), 0);
  const all = [...errors, ...formatIssues(issues, MESSAGE_FIELDS, MAX_REPORTED_ERRORS)];
  const shown = all.slice(0, MAX_REPORTED_ERRORS);
  if (problems > shown.length) shown.push(`... ${problems - shown.length} more problems not shown`);
  return { ok: false, errors: shown };
}

/** Validates what an operator wrote (one message object). */
export function parseMessageInput(raw: unknown): ParseResult<MessageInput> {
  return run(messageInputSchema, raw);
}

/** Validates a complete message as it travels. */
export function parseMessage(raw: unknown): ParseResult<Message> {
  return run(messageSchema, raw);
}

/** `parseMessage`, throwing `InvalidMessageError`. */
export function assertMessage(raw: unknown): Message {
  const r = parseMessage(raw);
  if (!r.ok) throw new InvalidMessageError(r.errors);
  return r.value;
}

export interface CompletionContext {
  /** The sending node; becomes `fromNode`. */
  fromNode: string;
  /** Current time, Unix ms (default `Date.now()`). */
  now?: number;
  /** Time to live when the message gives neither `ttl` nor `expiresAt` (default 3600 s). */
  defaultTtlSeconds?: number;
  /** Id generator (default UUIDv7). */
  newId?: (now: number) => string;
  /**
   * The id of the copy for `toNode`, when its sender decides it (a fleet job's message to a node
   * is the same id whichever central sends it: job-runner.ts); undefined falls back to `newId`.
   */
  idFor?: (toNode: string | undefined) => string | undefined;
  /** Longest time to live from createdAt, seconds (default 604800 s, 7 days; `messages.maxTtl`). */
  maxTtlSeconds?: number;
}

/** Why the message lives longer than `maxTtlSeconds` allows, or undefined when it does not. */
function tooLong(
  input: MessageInput,
  ctx: CompletionContext,
  createdAt: number,
): string | undefined {
  const max = ctx.maxTtlSeconds ?? DEFAULT_MAX_TTL_SECONDS;
  const limit = `at most ${max} s (messages.maxTtl)`;
  if (input.expiresAt !== undefined) {
    if (input.expiresAt - createdAt <= max * 1000) return undefined;
    return `Expected \`expiresAt\` to be ${limit} after \`createdAt\` (${createdAt}), got \`${input.expiresAt}\` (number)`;
  }
  if (input.ttl !== undefined) {
    if (input.ttl <= max) return undefined;
    return `Expected \`ttl\` to be ${limit}, got \`${input.ttl}\` (number)`;
  }
  const ttl = ctx.defaultTtlSeconds ?? DEFAULT_TTL_SECONDS;
  if (ttl <= max) return undefined;
  return `Expected the default time to live (messages.ttl) to be ${limit}, got \`${ttl}\` (number)`;
}

/**
 * Turns an operator's message into the messages to send: fills id, fromNode, createdAt and
 * expiresAt, and expands `toNodes` into one message per node, as Steward does (duplicates are
 * sent once). Each copy gets its own id, since each is delivered and acknowledged on its own.
 */
export function completeMessage(
  input: MessageInput,
  ctx: CompletionContext,
): ParseResult<Message[]> {
  const now = ctx.now ?? Date.now();
  const newId = ctx.newId ?? newMessageId;
  const { toNodes, ...rest } = input;
  const errors: string[] = [];
  if (input.fromNode !== undefined && input.fromNode !== ctx.fromNode) {
    errors.push(
      `Expected \`fromNode\` to be absent or the sending node \`${ctx.fromNode}\`, got \`${JSON.stringify(input.fromNode)}\` (string)`,
    );
  }
  const nodes = toNodes === undefined ? [undefined] : [...new Set(toNodes)];
  if (input.id !== undefined && nodes.length > 1) {
    errors.push(
      `Expected no \`id\` on a message with several \`toNodes\` (each copy gets its own id), got \`${JSON.stringify(input.id)}\` (string)`,
    );
  }
  const createdAt = input.createdAt ?? now;
  const overLimit = tooLong(input, ctx, createdAt);
  if (overLimit !== undefined) errors.push(overLimit);
  if (errors.length > 0) return { ok: false, errors };
  const expiresAt =
    input.expiresAt ??
    createdAt + (input.ttl ?? ctx.defaultTtlSeconds ?? DEFAULT_TTL_SECONDS) * 1000;
  const [first, ...others] = nodes;
  const r = parseMessage({
    ...rest,
    ...(first === undefined ? {} : { toNode: first }),
    id: input.id ?? ctx.idFor?.(first) ?? newId(now),
    fromNode: ctx.fromNode,
    createdAt,
    expiresAt,
  });
  if (!r.ok) return r;
  // The copies differ from the first only in toNode (each a node name the input schema checked)
  // and a fresh id, so the first is the only one the schema needs to see: a job to 10,000 nodes
  // is validated once, not 10,000 times (bench/fleet).
  const out: Message[] = [r.value];
  for (const node of others)
    out.push({ ...r.value, toNode: node, id: ctx.idFor?.(node) ?? newId(now) });
  return { ok: true, value: out };
}

/**
 * The JSON Schema (draft 2020-12) of the message, generated from the zod schema by
 * `z.toJSONSchema`. `kind: 'input'` (default) is what operators write; `'wire'` is a sent message.
 */
export function messageJsonSchema(kind: 'input' | 'wire' = 'input'): Record<string, unknown> {
  const schema = kind === 'input' ? messageInputSchema : messageSchema;
  return z.toJSONSchema(schema, { target: 'draft-2020-12' }) as Record<string, unknown>;
}
