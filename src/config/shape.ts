import * as z from 'zod';
import { configSchema } from './schema.js';

// Reads the schema's structure, so the environment, flags, docs and the default file all follow
// the one schema instead of a hand-kept list of keys.

export const LeafKind = {
  string: 'string',
  number: 'number',
  boolean: 'boolean',
  array: 'array',
  object: 'object',
} as const;
export type LeafKind = (typeof LeafKind)[keyof typeof LeafKind];

/** The schema under `.default()`, `.prefault()`, `.optional()` and `.nullable()`. */
export function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    if (
      s instanceof z.ZodDefault ||
      s instanceof z.ZodPrefault ||
      s instanceof z.ZodOptional ||
      s instanceof z.ZodNullable
    ) {
      s = s.unwrap() as z.ZodType;
    } else {
      return s;
    }
  }
}

export function kindOf(schema: z.ZodType): LeafKind {
  const s = unwrap(schema);
  if (s instanceof z.ZodObject) return 'object';
  if (s instanceof z.ZodNumber) return 'number';
  if (s instanceof z.ZodBoolean) return 'boolean';
  if (s instanceof z.ZodArray) return 'array';
  return 'string';
}

/** The keys of an object schema, or undefined for a leaf. */
export function shapeOf(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  const s = unwrap(schema);
  return s instanceof z.ZodObject ? (s.shape as Record<string, z.ZodType>) : undefined;
}

/** The schema at a dotted path (`broker.url`), or undefined when there is no such key. */
export function schemaAt(
  path: readonly string[],
  root: z.ZodType = configSchema(),
): z.ZodType | undefined {
  let s: z.ZodType | undefined = root;
  for (const key of path) {
    const shape: Record<string, z.ZodType> | undefined = s === undefined ? undefined : shapeOf(s);
    if (shape === undefined || !Object.hasOwn(shape, key)) return undefined;
    s = shape[key];
  }
  return s;
}

/** Every leaf key of the configuration, as paths, in schema order. */
export function leafPaths(root: z.ZodType = configSchema(), prefix: string[] = []): string[][] {
  const shape = shapeOf(root);
  if (shape === undefined) return [prefix];
  const out: string[][] = [];
  for (const [key, child] of Object.entries(shape)) {
    const sub = shapeOf(child);
    if (sub !== undefined && Object.keys(sub).length === 0) continue;
    out.push(...leafPaths(child, [...prefix, key]));
  }
  return out;
}

/**
 * Turns a string (from the environment or a flag) into the type the schema expects at `path`.
 * A value that does not convert is returned unchanged, so validation reports it with its layer.
 */
export function coerce(path: readonly string[], value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const schema = schemaAt(path);
  const kind = schema === undefined ? 'string' : kindOf(schema);
  const v = value.trim();
  switch (kind) {
    case 'number':
      return v !== '' && Number.isFinite(Number(v)) ? Number(v) : value;
    case 'boolean':
      if (/^(true|1|yes|on)$/i.test(v)) return true;
      if (/^(false|0|no|off)$/i.test(v)) return false;
      return value;
    case 'array':
      if (v.startsWith('[')) return parseJson(v) ?? value;
      return v === '' ? [] : v.split(',').map((s) => s.trim());
    case 'object':
      return v.startsWith('{') ? (parseJson(v) ?? value) : value;
    default:
      return value;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Env var name for a key: ADMIRAL_ + each segment in UPPER_SNAKE, joined by `__`. */
export function envName(path: readonly string[]): string {
  return `ADMIRAL_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('__')}`;
}

/** The default of a leaf, or undefined when it has none. */
export function defaultOf(schema: z.ZodType): unknown {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodDefault) return (s.def as { defaultValue: unknown }).defaultValue;
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) s = s.unwrap() as z.ZodType;
    else return undefined;
  }
}
