import type * as z from 'zod';
import { closestNames } from './methods.js';

// Turns zod issues into sentences that name the field, what was expected and what was received
// (STYLE.md, "Errors"): "Expected `methodTimeout` to be a non-negative integer, got `"ten"` (string)".
// Schemas put the expected phrase ("a non-negative integer") in their `error`; refinements write
// whole sentences.

/** `value` as shown in an error: its JSON text (shortened) and its JSON type. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  const type = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  if (text.length > 60) text = `${text.slice(0, 57)}...`;
  return `\`${text}\` (${type})`;
}

/** `methodArgs[2]`, `where.os`; `message` for the root. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'message';
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out;
}

/** One sentence per issue (per unknown key), at most `max` of them. */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  knownFields: readonly string[],
  max = Number.POSITIVE_INFINITY,
): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    if (out.length >= max) break;
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys.slice(0, max - out.length)) {
        const near = closestNames(key, knownFields, 1);
        const where = issue.path.length > 0 ? ` in \`${formatPath(issue.path)}\`` : '';
        out.push(
          `Unknown field \`${key}\`${where}` +
            (near.length > 0 ? `; did you mean \`${near[0]}\`?` : ''),
        );
      }
    } else if (issue.code === 'custom') {
      out.push(issue.message);
    } else {
      out.push(
        `Expected \`${formatPath(issue.path)}\` to be ${issue.message}, got ${describeValue(issue.input)}`,
      );
    }
  }
  return out;
}
