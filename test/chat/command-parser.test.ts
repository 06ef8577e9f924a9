import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addressedText,
  ChatCommandError,
  classOfWord,
  parseCommand,
  splitWords,
} from '../../src/chat/command-parser.js';

test('a line is addressed to the bridge only when it starts with its nick and a colon or comma', () => {
  assert.equal(addressedText('admiral: ping', ['admiral']), 'ping');
  assert.equal(addressedText('Admiral, nodes tags=web', ['admiral']), 'nodes tags=web');
  assert.equal(addressedText('admiral_: ping', ['admiral_', 'admiral']), 'ping');
  assert.equal(addressedText('admiral ping', ['admiral']), undefined);
  assert.equal(addressedText('admiralty: ping', ['admiral']), undefined);
  assert.equal(addressedText('hey admiral: ping', ['admiral']), undefined);
});

test('words split as a shell splits them, and nothing is expanded', () => {
  assert.deepEqual(splitWords(`run --where 'tags=web' -- echo "a b" c\\ d`), [
    'run',
    '--where',
    'tags=web',
    '--',
    'echo',
    'a b',
    'c d',
  ]);
  assert.deepEqual(splitWords('echo $(reboot) `id` ; rm -rf /'), [
    'echo',
    '$(reboot)',
    '`id`',
    ';',
    'rm',
    '-rf',
    '/',
  ]);
  assert.deepEqual(splitWords("echo ''"), ['echo', '']);
  assert.throws(() => splitWords('echo "open'), ChatCommandError);
});

test('run takes a target and the command after --', () => {
  assert.deepEqual(parseCommand("run --where 'tags=web' -- uptime -p"), {
    name: 'run',
    target: { where: [{ fact: 'tags', op: '=', value: 'web' }] },
    args: ['uptime', '-p'],
  });
  assert.deepEqual(parseCommand('run --nodes a,b --timeout 5 uptime'), {
    name: 'run',
    target: { nodes: ['a', 'b'] },
    args: ['uptime'],
    timeout: 5,
  });
  assert.deepEqual(parseCommand('run --all -- --version'), {
    name: 'run',
    target: { all: true },
    args: ['--version'],
  });
});

test("fleet CMD (amiral's form) runs on every node", () => {
  assert.deepEqual(parseCommand('fleet uptime'), {
    name: 'run',
    target: { all: true },
    args: ['uptime'],
  });
});

test('ping and nodes take the positional target shorthand of the CLI', () => {
  assert.deepEqual(parseCommand('ping ship1,ship2'), {
    name: 'ping',
    target: { nodes: ['ship1', 'ship2'] },
  });
  assert.deepEqual(parseCommand('nodes os=linux'), {
    name: 'nodes',
    target: { where: [{ fact: 'os', op: '=', value: 'linux' }] },
  });
  assert.deepEqual(parseCommand(''), { name: 'help' });
});

test('a command that cannot be read is refused with what was wrong', () => {
  const cases: [string, RegExp][] = [
    ['run -- uptime', /run needs a target/],
    ['run --all', /run needs a command/],
    ['run --where -- uptime', /Expected|filter/],
    ['run --timeout ten --all -- x', /--timeout takes seconds, got "ten"/],
    ['run --bogus --all -- x', /unknown option --bogus/],
    ['job', /job takes one job id \(a UUID\), got none/],
    ['cancel 1 2', /cancel takes one job id/],
    ['jobs all', /jobs takes nothing/],
    ['fleet', /fleet needs a command/],
    ['shutdown', /unknown command "shutdown"; try: help/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseCommand(text), message, text);
  }
});

test('each command names the class it needs; help needs none', () => {
  assert.equal(classOfWord('ping'), 'read');
  assert.equal(classOfWord('NODES x'), 'read');
  assert.equal(classOfWord('jobs'), 'read');
  assert.equal(classOfWord('job x'), 'read');
  assert.equal(classOfWord('run --all -- x'), 'run');
  assert.equal(classOfWord('fleet uptime'), 'run');
  assert.equal(classOfWord('cancel x'), 'run');
  assert.equal(classOfWord('help'), undefined);
  assert.equal(classOfWord('toString'), undefined);
});
