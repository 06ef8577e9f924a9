import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CONFIG_FLAGS } from '../../src/config/flags.js';
import { defaultOf, envName, leafPaths, schemaAt } from '../../src/config/shape.js';

const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

/** Cells of every table row in the doc (padding trimmed, escaped pipes kept). */
const rows = doc
  .split('\n')
  .filter((l) => l.startsWith('| `'))
  .map((l) =>
    l
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim()),
  );

/** The row documenting `key`: | `key` | type | default | env | meaning |. */
function row(key: string): string[] | undefined {
  return rows.find((cells) => cells[0] === `\`${key}\`` && cells.length === 5);
}

test('every configuration key is documented with its default and environment variable', () => {
  const missing: string[] = [];
  for (const path of leafPaths()) {
    const key = path.join('.');
    const cells = row(key);
    if (cells === undefined) {
      missing.push(key);
      continue;
    }
    assert.equal(cells.length, 5, `row for ${key} has 5 columns`);
    assert.equal(cells[3], `\`${envName(path)}\``, `env var of ${key}`);
    const schema = schemaAt(path);
    assert.ok(schema);
    const def = defaultOf(schema);
    const shown = def === undefined ? '—' : `\`${JSON.stringify(def)}\``;
    assert.equal(cells[2], shown, `default of ${key}`);
  }
  assert.deepEqual(missing, [], 'keys missing from docs/configuration.md');
});

test('every documented key exists in the schema', () => {
  const known = new Set(leafPaths().map((p) => p.join('.')));
  const documented = rows
    .filter((cells) => cells.length === 5)
    .map((cells) => (cells[0] ?? '').replaceAll('`', ''));
  assert.deepEqual(
    documented.filter((k) => !known.has(k)),
    [],
  );
});

test('every config flag is documented', () => {
  for (const f of CONFIG_FLAGS) {
    const flag = f.flags.split(' ')[0] ?? '';
    assert.ok(doc.includes(`\`${flag}\``), `${flag} in docs/configuration.md`);
  }
});
