#!/usr/bin/env node
// Builds the CLI bundle into dist/bin, what `bin` (admiral) runs: src/cli/main.ts and its
// dependencies in minified ES modules (esbuild), so that a process compiles and keeps less code
// than tsc's output of one file per module (docs/benchmarks.md, "bench/idle"). Run after tsc
// (`npm run build`): the helper entries are read from tsc's output of src/layout.ts.
// - Every output file is directly in dist/bin (entries by name, chunks as chunk-HASH.js): code
//   inlined from src/layout.ts computes paths from there (dist/bin/.. is dist/).
// - Each dynamic import() stays a chunk loaded on first use (`splitting`), so a node does not load
//   central's code, nor one command the code of the others.
// - Native modules (better-sqlite3, zstd-napi) and ws's optional native helpers stay outside;
//   Node resolves them from node_modules as before.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';
import { HELPERS } from '../dist/src/layout.js';

const OUT = 'dist/bin';
rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });

const entryPoints = [
  { in: 'src/cli/main.ts', out: 'admiral' },
  ...Object.entries(HELPERS).map(([name, source]) => ({ in: `src/${source}.ts`, out: name })),
  // Not run by anything: test/cli/layout.test.ts imports it to check the bundle's own paths.
  { in: 'src/layout.ts', out: 'layout' },
];

await build({
  entryPoints,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: OUT,
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
  // Identifiers are minified and function and class names not kept (`keepNames` costs an idle
  // node 0.6 MiB): code must not take a name from a class or function (errors name themselves).
  minify: true,
  sourcemap: true,
  legalComments: 'eof',
  define: { ADMIRAL_BUNDLE: 'true' },
  external: ['better-sqlite3', 'zstd-napi', 'bufferutil', 'utf-8-validate'],
  // CommonJS dependencies bundled into ES modules call require() for Node's built-in modules.
  banner: {
    js: "import{createRequire as __admiralRequire}from'node:module';const require=__admiralRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
chmodSync(`${OUT}/admiral.js`, 0o755);
