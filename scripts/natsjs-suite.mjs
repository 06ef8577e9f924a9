#!/usr/bin/env node
// Runs the official nats.js client's core test suite (nats-io/nats.js core/tests, Deno) against
// nats-server or the embedded broker and writes each test's result. See docs/broker.md.
//
//   node scripts/natsjs-suite.mjs --source NATSJS_GIT_DIR --work DIR --broker embedded|nats-server
//                                 [--deno PATH] [--main admiral/dist/bin/admiral.js] [--out results.json]
//                                 [--compare other.json] [TEST_FILE...]
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    source: { type: 'string' },
    work: { type: 'string', default: '/tmp/natsjs-suite' },
    broker: { type: 'string', default: 'embedded' },
    deno: { type: 'string', default: 'deno' },
    main: { type: 'string', default: join(repo, 'dist', 'bin', 'admiral.js') },
    out: { type: 'string' },
    compare: { type: 'string' },
  },
});

if (values.compare) {
  compare(values.out, values.compare);
  process.exit(0);
}
if (!['embedded', 'nats-server'].includes(values.broker)) {
  fail(`--broker must be "embedded" or "nats-server", got "${values.broker}"`);
}

const work = resolve(values.work);
if (values.source) unpack(resolve(values.source), work);
if (!existsSync(join(work, 'core', 'tests'))) {
  fail(
    `${work}/core/tests not found: pass --source with a nats.js git directory (github:nats-io/nats.js)`,
  );
}
writeImportMap(work);
const bin = writeServerWrapper(work, values.broker);

const junit = join(work, `junit-${values.broker}.xml`);
const tests =
  positionals.length > 0 ? positionals.map((p) => join('core', 'tests', p)) : ['core/tests'];
const r = spawnSync(
  values.deno,
  [
    'test',
    '-A',
    '--no-check',
    '--quiet',
    `--preload=${join(here, 'natsjs-suite', 'time-limit.ts')}`,
    `--junit-path=${junit}`,
    ...tests,
  ],
  { cwd: work, stdio: 'inherit', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } },
);
killLeftServers(bin);
if (r.error) fail(`could not run ${values.deno}: ${r.error.message} (npm install deno gives one)`);

const results = parseJunit(readFileSync(junit, 'utf8'));
const out = values.out ?? join(work, `results-${values.broker}.json`);
writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
const passed = Object.values(results).filter((v) => v === 'pass').length;
console.log(
  `${values.broker}: ${passed} of ${Object.keys(results).length} passed; results in ${out}`,
);

function fail(msg) {
  console.error(msg);
  process.exit(2);
}

// Extracts the tests and the harness they import from a nats.js git directory, without its jsr imports.
function unpack(source, dest) {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  const archive = spawnSync(
    'git',
    ['--git-dir', source, 'archive', 'HEAD', 'core', 'nst', 'transport-deno'],
    {
      maxBuffer: 1 << 30,
    },
  );
  if (archive.status !== 0) fail(`git archive in ${source} failed: ${archive.stderr}`);
  const tar = spawnSync('tar', ['-x', '-C', dest], { input: archive.stdout });
  if (tar.status !== 0) fail(`tar failed: ${tar.stderr}`);
  for (const member of ['core', 'nst', 'transport-deno'])
    rmSync(join(dest, member, 'deno.json'), { force: true });
}

// jsr: is not reachable here: @std/* come from small local shims, the @nats-io helpers from npm.
function writeImportMap(dest) {
  const shim = (name) => pathToFileURL(join(here, 'natsjs-suite', name)).href;
  const config = {
    nodeModulesDir: 'none',
    imports: {
      '@std/assert': shim('std-assert.ts'),
      '@std/io': shim('std-io.ts'),
      '@nats-io/nkeys': 'npm:@nats-io/nkeys@2.0.3',
      '@nats-io/nuid': 'npm:@nats-io/nuid@3.0.0',
      '@nats-io/jwt': 'npm:@nats-io/jwt@0.0.11',
      '@nats-io/nats-core': './core/src/mod.ts',
      '@nats-io/nats-core/internal': './core/src/internal_mod.ts',
      '@nats-io/transport-deno': './transport-deno/src/mod.ts',
      '@nats-io/nst': './nst/src/mod.ts',
      nst: './nst/src/mod.ts',
    },
    scopes: { './core/tests/': { nst: './core/tests/nst.ts' } },
  };
  writeFileSync(join(dest, 'deno.json'), JSON.stringify(config, null, 2) + '\n');
}

// The harness spawns `nats-server -c FILE` from PATH and waits for nats-server_<pid>.ports.
// Some of its configurations listen on 0.0.0.0 without authentication, which the embedded broker
// refuses unless told --insecure (see docs/broker.md): the run measures the protocol, not that default.
function writeServerWrapper(dest, broker) {
  const bin = join(dest, `bin-${broker}`);
  mkdirSync(bin, { recursive: true });
  const target =
    broker === 'embedded'
      ? `exec -a nats-server ${process.execPath} ${resolve(values.main)} broker start --insecure "$@"`
      : 'exec /usr/sbin/nats-server "$@"';
  rmSync(join(bin, 'pids'), { force: true });
  // Each server's pid is noted, so that servers a timed-out test left running can be stopped.
  writeFileSync(
    join(bin, 'nats-server'),
    `#!/bin/bash\necho $$ >> ${join(bin, 'pids')}\n${target}\n`,
  );
  chmodSync(join(bin, 'nats-server'), 0o755);
  return bin;
}

function killLeftServers(bin) {
  const file = join(bin, 'pids');
  if (!existsSync(file)) return;
  for (const pid of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function parseJunit(xml) {
  const results = {};
  const decode = (s) =>
    s
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  const re = /<testcase name="([^"]*)" classname="([^"]*)"[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const m of xml.matchAll(re)) {
    const body = m[4] ?? '';
    const status = /<failure/.test(body) ? 'fail' : /<skipped/.test(body) ? 'skip' : 'pass';
    results[decode(m[1])] = status;
  }
  return results;
}

// Lists the tests that pass in `reference` (nats-server) and not in `subject` (embedded).
function compare(subjectFile, referenceFile) {
  if (!subjectFile) fail('--compare needs --out with the results to compare');
  const subject = JSON.parse(readFileSync(subjectFile, 'utf8'));
  const reference = JSON.parse(readFileSync(referenceFile, 'utf8'));
  for (const [name, status] of Object.entries(reference)) {
    if (status === 'pass' && subject[name] !== 'pass')
      console.log(`${subject[name] ?? 'missing'}\t${name}`);
  }
}
