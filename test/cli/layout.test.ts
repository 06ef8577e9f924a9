import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import * as tsc from '../../src/layout.js';

// src/layout.ts computes every path to admiral's own files, in both layouts its code runs in:
// tsc's output (dist/src, what the library and these tests import) and the CLI bundle (dist/bin,
// what `bin` runs; scripts/build-cli.mjs makes src/layout.ts an entry of its own there, so that
// this test runs the bundle's copy of it).

type Layout = typeof tsc;
const bundle = (await import(tsc.BUNDLE_LAYOUT)) as Layout;

function checkLayout(layout: Layout): void {
  const pkg = JSON.parse(readFileSync(layout.PACKAGE_JSON, 'utf8')) as {
    name: string;
    bin: Record<string, string>;
  };
  assert.equal(pkg.name, 'admiral');
  assert.ok(existsSync(join(layout.WEB_DIR, 'index.html')), `${layout.WEB_DIR} has no index.html`);
  assert.ok(existsSync(layout.CLI_BUNDLE), layout.CLI_BUNDLE);
  for (const helper of Object.keys(layout.HELPERS) as (keyof Layout['HELPERS'])[]) {
    assert.ok(existsSync(layout.helperPath(helper)), `${helper}: ${layout.helperPath(helper)}`);
  }
}

test('tsc output: every path of src/layout.ts is there', () => {
  assert.equal(tsc.BUNDLED, false);
  checkLayout(tsc);
  assert.match(tsc.helperPath('verify-worker'), /dist\/src\/protocol\/verify-worker\.js$/);
});

test('CLI bundle: every path of its copy of src/layout.ts is there, and bin runs the bundle', () => {
  assert.equal(bundle.BUNDLED, true);
  checkLayout(bundle);
  assert.match(bundle.helperPath('verify-worker'), /dist\/bin\/verify-worker\.js$/);
  // The paths hold because every file of the bundle is directly in dist/bin (src/layout.ts).
  const dir = join(bundle.CLI_BUNDLE, '..');
  for (const name of readdirSync(dir)) assert.ok(statSync(join(dir, name)).isFile(), name);
  const pkg = JSON.parse(readFileSync(bundle.PACKAGE_JSON, 'utf8')) as {
    bin: Record<string, string>;
  };
  assert.equal(join(bundle.PACKAGE_JSON, '..', pkg.bin['admiral']!), bundle.CLI_BUNDLE);
});

test("CLI bundle: the signature worker's entry starts and answers", async () => {
  const worker = new Worker(bundle.helperUrl('verify-worker'));
  try {
    const answer = await new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.postMessage({ seq: 7, items: [{ text: 'x', sig: 'AAAA', signer: 'AAAA' }] });
    });
    assert.deepEqual(answer, { seq: 7, valid: [false] });
  } finally {
    await worker.terminate();
  }
});
