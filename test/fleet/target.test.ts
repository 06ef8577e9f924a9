import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  FilterSyntaxError,
  globToRegExp,
  matches,
  matchesRecord,
  parseWhere,
  resolveTarget,
  TargetError,
  whereFromRecord,
  whereToRecord,
} from '../../src/fleet/target.js';

const web1 = {
  node: 'web1',
  online: true,
  facts: {
    node: 'web1',
    hostname: 'www01.example.com',
    os: 'Linux',
    cpus: 8,
    memory: { total: 16_000_000_000, free: 1_000 },
    tags: ['web', 'eu-west'],
    ips: ['10.0.0.5', 'fe80::1'],
    custom: { rack: 'r12', env: 'prod' },
  },
};
const db1 = {
  node: 'db1',
  online: false,
  facts: {
    node: 'db1',
    hostname: 'db01.example.com',
    os: 'Linux',
    cpus: 2,
    memory: { total: 4_000_000_000, free: 1_000 },
    tags: ['db'],
    ips: ['10.0.1.7'],
    custom: { rack: 'r3', env: 'staging' },
  },
};
const inventory = [web1, db1];

describe('where filters', () => {
  test('every operator parses into fact, op and value', () => {
    assert.deepEqual(parseWhere('hostname=www*'), { fact: 'hostname', op: '=', value: 'www*' });
    assert.deepEqual(parseWhere('os!=Win*'), { fact: 'os', op: '!=', value: 'Win*' });
    assert.deepEqual(parseWhere('hostname~^db\\d+'), {
      fact: 'hostname',
      op: '~',
      value: '^db\\d+',
    });
    assert.deepEqual(parseWhere('cpus>=4'), { fact: 'cpus', op: '>=', value: '4' });
    assert.deepEqual(parseWhere('cpus > 4'), { fact: 'cpus', op: '>', value: '4' });
    assert.deepEqual(parseWhere('cpus<=4'), { fact: 'cpus', op: '<=', value: '4' });
    assert.deepEqual(parseWhere('cpus<4'), { fact: 'cpus', op: '<', value: '4' });
    assert.deepEqual(parseWhere('memory.total>1e9'), {
      fact: 'memory.total',
      op: '>',
      value: '1e9',
    });
    assert.deepEqual(parseWhere('os==Linux'), { fact: 'os', op: '=', value: 'Linux' });
  });

  test('glob(3) patterns match as amiral does: *, ?, classes, negated classes, escapes', () => {
    assert.ok(globToRegExp('www*').test('www01.example.com'));
    assert.ok(!globToRegExp('www*').test('db01'));
    assert.ok(globToRegExp('db0?.example.com').test('db01.example.com'));
    assert.ok(!globToRegExp('db0?.example.com').test('db011.example.com'));
    assert.ok(globToRegExp('web[0-9]').test('web7'));
    assert.ok(!globToRegExp('web[!0-9]').test('web7'));
    assert.ok(globToRegExp('web[!0-9]').test('webx'));
    assert.ok(globToRegExp('a[]]b').test('a]b'));
    assert.ok(globToRegExp('a\\*b').test('a*b'));
    assert.ok(!globToRegExp('a\\*b').test('axb'));
    assert.ok(globToRegExp('1.2.3.*').test('1.2.3.4'));
    assert.ok(!globToRegExp('1.2.3.*').test('1x2x3x4'), 'a dot is literal');
    assert.ok(!globToRegExp('www').test('www01'), 'anchored at both ends');
  });

  test('facts match by glob, regex, number, dotted path and list membership; filters are ANDed', () => {
    const m = (exprs: string[], facts: Record<string, unknown>) =>
      matches(exprs.map(parseWhere), facts);
    assert.ok(m(['hostname=www*'], web1.facts));
    assert.ok(!m(['hostname=www*'], db1.facts));
    assert.ok(m(['hostname~^db\\d+\\.'], db1.facts));
    assert.ok(m(['cpus>=4'], web1.facts));
    assert.ok(!m(['cpus>=4'], db1.facts));
    assert.ok(m(['cpus>4', 'cpus<=8', 'cpus!=3'], web1.facts));
    assert.ok(m(['memory.total>1e10'], web1.facts));
    assert.ok(m(['custom.rack=r1?'], web1.facts));
    assert.ok(!m(['custom.rack=r1?'], db1.facts));
    assert.ok(m(['tags=web'], web1.facts), 'a list fact matches when any item does');
    assert.ok(m(['tags!=web'], db1.facts));
    assert.ok(m(['ips=10.0.*'], db1.facts));
    assert.ok(m(['ips.0=10.0.0.5'], web1.facts), 'list items by index');
    assert.ok(m(['os=Linux', 'tags=eu-*'], web1.facts));
    assert.ok(!m(['os=Linux', 'tags=eu-*'], db1.facts), 'AND: one failing filter excludes');
    assert.ok(!m(['nosuch=*'], web1.facts), 'a missing fact matches nothing');
    assert.ok(m(['nosuch!=x'], web1.facts), '... except !=');
    assert.ok(!m(['hostname>3'], web1.facts), 'a text fact is not a number');
  });

  test('a bad filter points at what is wrong with a caret', () => {
    const cases: [string, number, RegExp][] = [
      ['', 0, /empty filter/],
      ['=linux', 0, /expected a fact name/],
      ['os', 2, /expected an operator .* after `os`/],
      ['os:linux', 2, /expected an operator .* got ":"/],
      ['cpus>=four', 6, /expected a number after `>=`, got "four"/],
      ['cpus<', 5, /expected a value after `<`/],
      ['hostname~db(', 9, /regular expression/],
      ['hostname=web[0-9', 12, /expected `]` to close the character class/],
      ['memory..total>1', 7, /empty name/],
    ];
    for (const [expr, at, reason] of cases) {
      assert.throws(
        () => parseWhere(expr),
        (err: unknown) => {
          assert.ok(err instanceof FilterSyntaxError, expr);
          assert.equal(err.code, 'ADMIRAL_FILTER_SYNTAX');
          assert.equal(err.position, at, `position in ${JSON.stringify(expr)}`);
          assert.match(err.reason, reason);
          const lines = err.message.split('\n');
          assert.equal(lines[1], `  ${expr}`);
          assert.equal(lines[2], `  ${' '.repeat(at)}^`);
          return true;
        },
      );
    }
  });
});

describe('targets', () => {
  test('--nodes, --all and --where resolve against the inventory', () => {
    assert.deepEqual(resolveTarget({ nodes: ['b', 'a'] }, inventory), ['a', 'b']);
    assert.deepEqual(resolveTarget({ all: true }, inventory), ['db1', 'web1']);
    assert.deepEqual(resolveTarget({ where: [parseWhere('tags=db')] }, inventory), ['db1']);
    assert.deepEqual(
      resolveTarget({ nodes: ['web1', 'db1'], where: [parseWhere('cpus>=4')] }, inventory),
      ['web1'],
    );
    assert.deepEqual(resolveTarget({ all: true }, inventory, { onlineOnly: true }), ['web1']);
    assert.throws(() => resolveTarget({}, inventory), TargetError);
    assert.throws(() => resolveTarget({ nodes: ['a.b'] }, inventory), /node names/);
  });

  test('filters travel in a message where field and match the same on the node', () => {
    const filters = ['hostname=www*', 'cpus>=4', 'cpus<=64', 'tags~^eu-'].map(parseWhere);
    const record = whereToRecord(filters);
    assert.deepEqual(record, {
      hostname: 'www*',
      cpus: { '>=': '4', '<=': '64' },
      tags: { '~': '^eu-' },
    });
    const wire = JSON.parse(JSON.stringify(record)) as Record<string, unknown>;
    assert.deepEqual(whereFromRecord(wire), filters);
    assert.ok(matchesRecord(wire, web1.facts));
    assert.ok(!matchesRecord(wire, db1.facts));
    assert.ok(matchesRecord({}, db1.facts), 'an empty where matches every node');
    assert.deepEqual(whereFromRecord({ cpus: { '>': 2 } }), [
      { fact: 'cpus', op: '>', value: '2' },
    ]);
    assert.throws(() => whereFromRecord({ cpus: { '=>': '2' } }), TargetError);
    assert.throws(() => whereFromRecord({ cpus: { '>': 'x' } }), /valid filter/);
    assert.throws(() => whereFromRecord({ cpus: null }), TargetError);
  });
});
