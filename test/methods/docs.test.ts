import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { METHOD_ERROR_CODES } from '../../src/methods/errors.js';
import { createMethodRegistry } from '../../src/methods/registry.js';

// dist/test/methods/ → repository root
const docs = readFileSync(new URL('../../../docs/methods.md', import.meta.url), 'utf8');

describe('docs/methods.md', () => {
  test('every registered method has its own section', () => {
    for (const name of createMethodRegistry().names()) {
      assert.match(docs, new RegExp(`^## (.* )?${name}\\b`, 'm'), `no section for ${name}`);
    }
  });

  test('every error code of the methods is in the catalogue', () => {
    for (const code of Object.values(METHOD_ERROR_CODES)) {
      assert.ok(docs.includes(`| \`${code}\` |`), `${code} is not documented`);
    }
  });
});
