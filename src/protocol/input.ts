import { parseAllDocuments } from 'yaml';
import { InputLimitError, InputSyntaxError } from './errors.js';
import { checkJsonText, checkJsonValue, checkYamlText } from './limits.js';
import {
  type CompletionContext,
  completeMessage,
  type Message,
  parseMessageInput,
} from './message.js';

// Operator input, as Steward takes it on its socket: a JSON array of messages (seed 003, "How to
// send a Message"), a single JSON object, or YAML (a list, one mapping, or several `---`
// documents). Each message is validated on its own: one bad message never stops the others.

export interface RejectedMessage {
  /** Position of the message in the input (0-based, counted across YAML documents). */
  index: number;
  errors: string[];
}

export interface InputResult {
  /** Complete messages ready to sign and send, `toNodes` already expanded. */
  accepted: Message[];
  rejected: RejectedMessage[];
}

/**
 * Parses operator input into messages. Throws `InputSyntaxError` (with 1-based line and column)
 * when the text is neither JSON nor YAML, `InputLimitError` when it nests too deep or is too big
 * (limits.ts); every other problem is reported per message.
 */
export function parseInput(input: string | Uint8Array, ctx: CompletionContext): InputResult {
  const items = readDocuments(
    typeof input === 'string' ? input : Buffer.from(input).toString('utf8'),
  );
  const result: InputResult = { accepted: [], rejected: [] };
  items.forEach((item, index) => {
    const parsed = parseMessageInput(item);
    const completed = parsed.ok ? completeMessage(parsed.value, ctx) : parsed;
    if (completed.ok) result.accepted.push(...completed.value);
    else result.rejected.push({ index, errors: completed.errors });
  });
  return result;
}

/** The message candidates in the text, in order, not yet validated. */
export function readDocuments(raw: string): unknown[] {
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  const start = text.trimStart()[0];
  if (start === undefined) return [];
  if (start === '[' || start === '{') {
    // Limits first: what is past them is refused as it is, not retried as YAML.
    checkJsonText(text, 'input');
    try {
      return toItems(JSON.parse(text));
    } catch (jsonError) {
      // Steward's documented examples carry trailing commas (`"replyMethod":"REQToFileAppend",}`),
      // which JSON rejects and YAML flow collections accept: read them as YAML, else report JSON.
      try {
        return readYaml(text);
      } catch (yamlError) {
        if (yamlError instanceof InputLimitError) throw yamlError;
        throw jsonSyntaxError(text, jsonError);
      }
    }
  }
  return readYaml(text);
}

/** Most alias expansions per YAML document (the yaml package's own default). */
const YAML_MAX_ALIAS_COUNT = 100;

function toItems(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

function readYaml(text: string): unknown[] {
  checkYamlText(text, 'input');
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return []; // an empty stream
  const items: unknown[] = [];
  for (const doc of docs) {
    const first = doc.errors[0];
    if (first !== undefined) {
      const pos = first.linePos?.[0];
      throw new InputSyntaxError(
        first.message.split('\n')[0] ?? first.message,
        pos?.line ?? 1,
        pos?.col ?? 1,
        {
          cause: first,
        },
      );
    }
    // An alias expands to a copy of its anchor: bounded (the package's default), then checked.
    const value: unknown = doc.toJS({ maxAliasCount: YAML_MAX_ALIAS_COUNT });
    if (value === null && doc.contents === null) continue; // an empty document
    checkJsonValue(value, 'input');
    items.push(...toItems(value));
  }
  return items;
}

function jsonSyntaxError(text: string, error: unknown): InputSyntaxError {
  const reason = error instanceof Error ? error.message : String(error);
  // V8 says "... in JSON at position N" (Node 20) and sometimes "(line L column C)" (Node 22+).
  const lc = /line (\d+) column (\d+)/.exec(reason);
  if (lc) return new InputSyntaxError(reason, Number(lc[1]), Number(lc[2]), { cause: error });
  const at = /position (\d+)/.exec(reason);
  const offset = at ? Number(at[1]) : text.length;
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return new InputSyntaxError(reason, line, column, { cause: error });
}
