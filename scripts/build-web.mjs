#!/usr/bin/env node
// Builds the dashboard front end (web/) into dist/web: one bundled, minified script (preact +
// htm, esbuild), the page and its stylesheet. Served by central's HTTP listener; no CDN.
import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

mkdirSync('dist/web', { recursive: true });
await build({
  entryPoints: ['web/src/main.ts'],
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2020',
  outfile: 'dist/web/app.js',
  legalComments: 'none',
  logLevel: 'warning',
});
for (const f of ['index.html', 'app.css']) copyFileSync(`web/${f}`, `dist/web/${f}`);
