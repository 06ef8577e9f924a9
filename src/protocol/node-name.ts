import { InvalidNodeNameError } from './errors.js';

// DESIGN.md "Wire contract": node names are 1 to 64 of A-Z a-z 0-9 _ -, so a name can never add a
// token (`.`), a wildcard (`*`, `>`) or whitespace to a NATS subject.
export const NODE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const NODE_NAME_MAX_LENGTH = 64;

export function isValidNodeName(value: unknown): value is string {
  return typeof value === 'string' && NODE_NAME_PATTERN.test(value);
}

/** Throws `InvalidNodeNameError` unless `value` is a valid node name. */
export function assertNodeName(value: string, field?: string): void {
  if (!isValidNodeName(value)) throw new InvalidNodeNameError(value, field);
}
