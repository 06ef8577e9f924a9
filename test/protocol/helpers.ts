import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Tests run from dist/test/protocol; fixtures stay in the source tree.
export const FIXTURES = fileURLToPath(new URL('../../../test/protocol/fixtures/', import.meta.url));
export const DOCS = fileURLToPath(new URL('../../../docs/', import.meta.url));

/** Steward's documentation examples, copied unchanged from its README. */
export function stewardExamples(): { name: string; text: string }[] {
  return readdirSync(FIXTURES)
    .filter((f) => f.startsWith('steward-doc-'))
    .sort()
    .map((name) => ({ name, text: readFileSync(FIXTURES + name, 'utf8') }));
}
