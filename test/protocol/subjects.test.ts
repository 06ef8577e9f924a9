import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  assertNodeName,
  InvalidNodeNameError,
  InvalidSubjectError,
  isValidNodeName,
  Subjects,
} from '../../src/protocol/index.js';

describe('subjects', () => {
  test('node-name validation rejects anything that could alter a subject', () => {
    for (const bad of ['a.b', 'a*', '>', 'a b', ' a', 'a\tb', 'x'.repeat(65), '', 'ä']) {
      assert.equal(isValidNodeName(bad), false, JSON.stringify(bad));
      assert.throws(() => assertNodeName(bad), InvalidNodeNameError);
    }
    for (const good of ['ship1', 'central', 'A-z_0-9', 'x'.repeat(64)]) {
      assert.equal(isValidNodeName(good), true, good);
    }
  });

  test('directed, broadcast and event subjects use the default prefix adm', () => {
    const s = new Subjects();
    assert.equal(s.node('ship1', 'REQCliCommand'), 'adm.node.ship1.REQCliCommand');
    assert.equal(s.all('REQHello'), 'adm.all.REQHello');
    assert.equal(s.event('ship1', 'online'), 'adm.evt.ship1.online');
    assert.equal(s.nodeSubscription('ship1'), 'adm.node.ship1.*');
    assert.equal(s.broadcastSubscription(), 'adm.all.*');
    assert.equal(s.eventSubscription(), 'adm.evt.*.*');
    assert.equal(s.eventSubscription(undefined, 'offline'), 'adm.evt.*.offline');
  });

  test('a configured prefix, even of several tokens, is used and parsed back', () => {
    const s = new Subjects('corp.fleet');
    const subject = s.node('ship1', 'REQPing');
    assert.equal(subject, 'corp.fleet.node.ship1.REQPing');
    assert.deepEqual(s.parse(subject), { kind: 'node', node: 'ship1', method: 'REQPing' });
  });

  test('subjects parse back into their parts', () => {
    const s = new Subjects();
    assert.deepEqual(s.parse('adm.all.REQHello'), { kind: 'all', method: 'REQHello' });
    assert.deepEqual(s.parse('adm.evt.ship2.hello'), {
      kind: 'event',
      node: 'ship2',
      event: 'hello',
    });
    for (const other of [
      'adm.node.a.b.REQPing',
      'adm.evt.a.exploded',
      'other.node.a.REQPing',
      'adm',
      'adm.node.a',
    ]) {
      assert.equal(s.parse(other), undefined, other);
    }
  });

  test('building a subject with a bad node, method or prefix throws', () => {
    const s = new Subjects();
    assert.throws(() => s.node('a.b', 'REQPing'), InvalidNodeNameError);
    assert.throws(() => s.node('a', 'REQ.Ping'), InvalidSubjectError);
    assert.throws(() => s.all('>'), InvalidSubjectError);
    assert.throws(() => new Subjects('adm.*'), InvalidSubjectError);
    assert.throws(() => new Subjects('adm.'), InvalidSubjectError);
  });
});
