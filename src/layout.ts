// Where admiral's own files are: the one module that computes paths from its own location, for
// both layouts the code runs in (test/cli/layout.test.ts checks every path in both).
// - tsc's output: this module is dist/src/layout.js, the others dist/src/<folder>/<name>.js.
// - the CLI bundle (scripts/build-cli.mjs, what `bin` runs): every module, this one included, is
//   inlined into an entry or a chunk directly in dist/bin/ (no subfolders), and each helper below
//   is an entry of its own there, dist/bin/<name>.js. The build defines ADMIRAL_BUNDLE.
// In both, the folder of the file this code runs from is one level under dist/.
import { fileURLToPath } from 'node:url';

declare const ADMIRAL_BUNDLE: boolean | undefined;

/** True in the CLI bundle, false in tsc's output. */
export const BUNDLED: boolean = typeof ADMIRAL_BUNDLE !== 'undefined' && ADMIRAL_BUNDLE === true;

/** dist/ (the folder above this file's). */
const DIST = new URL('../', import.meta.url);

/**
 * The modules started as a process or thread of their own, by the name of their bundle entry,
 * with their source path under src/ (without the extension). scripts/build-cli.mjs makes each an
 * entry of the bundle from this list.
 */
export const HELPERS = {
  /** The signature-checking worker thread (protocol/verifier.ts). */
  'verify-worker': 'protocol/verify-worker',
  /** The process that starts commands for a node (methods/spawner.ts). */
  'spawner-child': 'methods/spawner-child',
  /** The process a server-side extension's method runs in (central/extensions.ts). */
  'extension-runner': 'central/extension-runner',
} as const;

export type Helper = keyof typeof HELPERS;

/** The file URL of `helper`'s module in this layout. */
export function helperUrl(helper: Helper): URL {
  return BUNDLED ? new URL(`bin/${helper}.js`, DIST) : new URL(`src/${HELPERS[helper]}.js`, DIST);
}

/** The path of `helper`'s module in this layout. */
export function helperPath(helper: Helper): string {
  return fileURLToPath(helperUrl(helper));
}

/** The CLI as `bin` runs it: the bundle's entry, dist/bin/admiral.js (tests and benchmarks spawn it). */
export const CLI_BUNDLE: string = fileURLToPath(new URL('bin/admiral.js', DIST));

/** The bundle's own copy of this module, as a file URL (for test/cli/layout.test.ts). */
export const BUNDLE_LAYOUT: string = new URL('bin/layout.js', DIST).href;

/** The package's package.json (dist/../package.json). */
export const PACKAGE_JSON: string = fileURLToPath(new URL('../package.json', DIST));

/** The built dashboard front end (scripts/build-web.mjs), dist/web/. */
export const WEB_DIR: string = fileURLToPath(new URL('web/', DIST));
