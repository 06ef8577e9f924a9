import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CLI_BUNDLE } from '../../src/layout.js';

const CLI = CLI_BUNDLE;

// docs/cli.md is the CLI reference: every command and subcommand that `admiral --help` lists must
// have its entry there, so the reference cannot fall behind the code.

function commandsOf(args: readonly string[]): string[] {
  const help = execFileSync(process.execPath, [CLI, ...args, '--help'], { encoding: 'utf8' });
  const section = help.split(/^Commands:$/m)[1] ?? '';
  return section
    .split('\n')
    .map((line) => /^ {2}(\S+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && name !== 'help');
}

test('every admiral command and subcommand is documented in docs/cli.md', () => {
  const doc = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8');
  const missing: string[] = [];
  for (const cmd of commandsOf([])) {
    const subs = commandsOf([cmd]);
    const names = subs.length > 0 ? subs.map((s) => `${cmd} ${s}`) : [cmd];
    for (const name of names) {
      if (!doc.includes(`admiral ${name}`)) missing.push(`admiral ${name}`);
    }
  }
  assert.deepEqual(missing, [], `commands missing from docs/cli.md: ${missing.join(', ')}`);
});

test("every configuration flag of node start is in docs/cli.md's list", async () => {
  const { CONFIG_FLAGS } = await import('../../src/config/flags.js');
  const doc = readFileSync(new URL('../../../docs/cli.md', import.meta.url), 'utf8');
  const missing = CONFIG_FLAGS.map((f) => f.flags.split(' ')[0] as string).filter(
    (name) => !doc.includes(`\`${name}`),
  );
  assert.deepEqual(missing, [], `flags missing from docs/cli.md: ${missing.join(', ')}`);
});

test('admiral --help lists every command with a one-line description', () => {
  const help = execFileSync(process.execPath, [CLI, '--help'], {
    encoding: 'utf8',
    env: { ...process.env, COLUMNS: '200' },
  });
  const section = help.split(/^Commands:$/m)[1] ?? '';
  const lines = section.split('\n').filter((l) => /^ {2}\S/.test(l));
  assert.ok(lines.length >= 8, help);
  for (const line of lines) assert.match(line, /^ {2}\S.*\s{2,}\S/, `no description: ${line}`);
});
