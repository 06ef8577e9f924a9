import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  isValidLiteralSubject,
  isValidSubject,
  subjectMatches,
  subjectsIntersect,
} from '../../src/broker/subject.js';
import { Sublist, type SublistEntry } from '../../src/broker/sublist.js';

function entry(subject: string, queue = ''): SublistEntry {
  return { subject, queue };
}

function subjects(sl: Sublist<SublistEntry>, s: string): string[] {
  return sl
    .match(s)
    .psubs.map((e) => e.subject)
    .sort();
}

describe('subjects', () => {
  test('subscribe subjects follow nats-server IsValidSubject', () => {
    for (const s of [
      'foo',
      'foo.bar',
      '*',
      '>',
      'foo.*',
      'foo.>',
      '*.*.>',
      'foo*',
      'a>b',
      '$SYS.x',
    ]) {
      assert.ok(isValidSubject(s), s);
    }
    for (const s of [
      '',
      '.',
      'foo.',
      '.foo',
      'foo..bar',
      'foo.>.bar',
      '>.foo',
      'foo bar',
      'a\tb',
    ]) {
      assert.ok(!isValidSubject(s), s);
    }
  });

  test('publish subjects must be literal in pedantic mode', () => {
    assert.ok(isValidLiteralSubject('foo.bar'));
    assert.ok(isValidLiteralSubject('foo*.b>'));
    assert.ok(!isValidLiteralSubject('foo.*'));
    assert.ok(!isValidLiteralSubject('foo.>'));
    assert.ok(!isValidLiteralSubject('foo..bar'));
  });

  test('pattern matching: * is one token, > one or more trailing tokens', () => {
    assert.ok(subjectMatches('foo.*', 'foo.bar'));
    assert.ok(!subjectMatches('foo.*', 'foo.bar.baz'));
    assert.ok(!subjectMatches('foo.*', 'foo'));
    assert.ok(subjectMatches('foo.>', 'foo.bar.baz'));
    assert.ok(!subjectMatches('foo.>', 'foo'));
    assert.ok(subjectMatches('>', 'a'));
  });

  test('two patterns intersect when some literal subject matches both', () => {
    assert.ok(subjectsIntersect('*.secret', 'foo.>'));
    assert.ok(subjectsIntersect('foo.bar', 'foo.*'));
    assert.ok(!subjectsIntersect('foo.bar', 'baz.*'));
    assert.ok(!subjectsIntersect('foo', 'foo.>'));
  });
});

describe('sublist', () => {
  test('literal, * and > subscriptions match as nats-server does', () => {
    const sl = new Sublist<SublistEntry>();
    for (const s of [
      'foo',
      'foo.bar',
      'foo.*',
      'foo.>',
      '*.bar',
      '>',
      'foo.*.baz',
      'foo.bar.baz',
    ]) {
      assert.ok(sl.insert(entry(s)));
    }
    assert.deepEqual(subjects(sl, 'foo'), ['>', 'foo']);
    assert.deepEqual(subjects(sl, 'foo.bar'), ['*.bar', '>', 'foo.*', 'foo.>', 'foo.bar']);
    assert.deepEqual(subjects(sl, 'foo.bar.baz'), ['>', 'foo.*.baz', 'foo.>', 'foo.bar.baz']);
    assert.deepEqual(subjects(sl, 'bar'), ['>']);
  });

  test('foo.> does not match foo, and * does not match two tokens', () => {
    const sl = new Sublist<SublistEntry>();
    sl.insert(entry('foo.>'));
    sl.insert(entry('a.*'));
    assert.deepEqual(subjects(sl, 'foo'), []);
    assert.deepEqual(subjects(sl, 'a.b.c'), []);
    assert.deepEqual(subjects(sl, 'a.b'), ['a.*']);
  });

  test('invalid subjects are refused and stored nowhere', () => {
    const sl = new Sublist<SublistEntry>();
    for (const s of ['', 'foo..bar', 'foo.>.bar', 'foo.', 'a b'])
      assert.ok(!sl.insert(entry(s)), s);
    assert.equal(sl.count, 0);
  });

  test('queue members are grouped by queue name across matching subjects', () => {
    const sl = new Sublist<SublistEntry>();
    const a = entry('foo', 'q');
    const b = entry('*', 'q');
    const c = entry('foo', 'other');
    sl.insert(a);
    sl.insert(b);
    sl.insert(c);
    sl.insert(entry('foo'));
    const r = sl.match('foo');
    assert.equal(r.psubs.length, 1);
    assert.equal(r.qsubs.length, 2);
    const q = r.qsubs.find((g) => g[0].queue === 'q');
    assert.deepEqual(new Set(q), new Set([a, b]));
  });

  test('the match cache is invalidated when a matching subscription is added or removed', () => {
    const sl = new Sublist<SublistEntry>();
    const lit = entry('foo.bar');
    sl.insert(lit);
    assert.equal(sl.match('foo.bar').psubs.length, 1);
    assert.equal(sl.match('foo.baz').psubs.length, 0);
    assert.ok(sl.cacheSize >= 1);
    const wc = entry('foo.*');
    sl.insert(wc);
    assert.equal(sl.match('foo.bar').psubs.length, 2);
    assert.equal(sl.match('foo.baz').psubs.length, 1);
    assert.ok(sl.remove(wc));
    assert.equal(sl.match('foo.baz').psubs.length, 0);
    assert.ok(sl.remove(lit));
    assert.equal(sl.match('foo.bar').psubs.length, 0);
    assert.equal(sl.count, 0);
    assert.ok(!sl.remove(lit));
  });

  test('removing entries prunes the trie so later matches see nothing stale', () => {
    const sl = new Sublist<SublistEntry>({ cache: false });
    const entries = ['a.b.c', 'a.*.c', 'a.>', 'a.b.c'].map((s) => entry(s));
    for (const e of entries) sl.insert(e);
    for (const e of entries) sl.remove(e);
    assert.equal(sl.count, 0);
    assert.deepEqual(subjects(sl, 'a.b.c'), []);
  });

  test('the cache stays bounded under many distinct subjects', () => {
    const sl = new Sublist<SublistEntry>();
    sl.insert(entry('>'));
    for (let i = 0; i < 5000; i++) sl.match(`s.${i}`);
    assert.ok(sl.cacheSize <= 1025);
  });
});
