import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import * as protocol from '../../src/protocol/index.js';
import {
  MESSAGE_FIELDS,
  METHOD_NAMES,
  PROTOCOL_ERROR_CODES,
  parseInput,
} from '../../src/protocol/index.js';
import { DOCS, stewardExamples } from './helpers.js';

const doc = readFileSync(`${DOCS}message-format.md`, 'utf8');

describe('docs/message-format.md', () => {
  test('every field of the schema is documented in a table row', () => {
    for (const field of MESSAGE_FIELDS) {
      assert.match(doc, new RegExp(`^\\| \`${field}\` \\|`, 'm'), field);
    }
  });

  test('every method name is documented', () => {
    for (const m of METHOD_NAMES) assert.ok(doc.includes(`\`${m}\``), m);
  });

  test('every error code is documented with its class', () => {
    for (const code of Object.values(PROTOCOL_ERROR_CODES)) {
      const row = new RegExp(`^\\| \`${code}\` \\| \`(\\w+)\` \\|`, 'm').exec(doc);
      assert.ok(row, code);
      assert.equal(typeof (protocol as Record<string, unknown>)[row[1] ?? ''], 'function', row[1]);
    }
  });

  test('the JSON examples in the page are Steward examples or parse as messages', () => {
    const examples = stewardExamples().map((e) => e.text.trim());
    const blocks = [...doc.matchAll(/```json\n(\[[\s\S]*?\])\n```/g)].map((m) => m[1] ?? '');
    assert.ok(blocks.length >= 5);
    for (const block of blocks) {
      assert.ok(examples.includes(block.trim()), `not a Steward example unchanged:\n${block}`);
      assert.deepEqual(parseInput(block, { fromNode: 'central' }).rejected, []);
    }
  });
});
