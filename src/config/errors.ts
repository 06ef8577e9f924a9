// The one error configuration loading raises. Every problem found is listed in `issues`; the
// top-level fields describe the first, so a caller can show a single line.

import { describeValue as describeWireValue } from '../protocol/describe.js';

/** One thing wrong with the configuration. */
export interface ConfigIssue {
  /** Dotted key, e.g. `messages.ackTimeout`; empty for a whole file. */
  readonly key: string;
  /** Where the value came from: `file /etc/admiral/config.yaml`, `env ADMIRAL_DATA_DIR`, `flag --broker`, `default`. */
  readonly layer: string;
  readonly expected: string;
  readonly received: string;
}

export class ConfigError extends Error {
  readonly code = 'ADMIRAL_CONFIG';
  override readonly name = 'ConfigError';
  readonly key: string;
  readonly layer: string;
  readonly expected: string;
  readonly received: string;
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options?: ErrorOptions) {
    const first = issues[0] ?? { key: '', layer: '', expected: '', received: '' };
    super(issues.map(formatIssue).join('\n'), options);
    this.key = first.key;
    this.layer = first.layer;
    this.expected = first.expected;
    this.received = first.received;
    this.issues = issues;
  }
}

/** "Expected `messages.ackTimeout` to be a number, got `"ten"` (string), from env ADMIRAL_…". */
export function formatIssue(i: ConfigIssue): string {
  const key = i.key === '' ? 'the configuration' : `\`${i.key}\``;
  return `Expected ${key} to be ${i.expected}, got ${i.received} (from ${i.layer})`;
}

/** How a received value is shown in an error: its JSON (shortened) and its type. */
export function describeValue(value: unknown): string {
  return value === undefined ? 'nothing' : describeWireValue(value);
}
