import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BrokerConfigError } from '../../src/broker/errors.js';
import { ClientPermissions, PermissionSet } from '../../src/broker/permissions.js';

describe('permissions', () => {
  test('deny wins over allow for publish', () => {
    const p = new PermissionSet({ publish: { allow: ['foo.>'], deny: ['foo.secret'] } });
    assert.ok(p.pubAllowed('foo.bar'));
    assert.ok(!p.pubAllowed('foo.secret'));
    assert.ok(!p.pubAllowed('bar'));
  });

  test('a plain subscribe deny also refuses a queue subscription to the same subject', () => {
    const p = new PermissionSet({ subscribe: { deny: ['secret.>'] } });
    assert.ok(!p.canSubscribe('secret.x', ''));
    assert.ok(!p.canSubscribe('secret.x', 'workers'));
    assert.ok(p.canSubscribe('public.x', 'workers'));
  });

  test('queue rules allow or deny one queue group only', () => {
    const p = new PermissionSet({
      subscribe: { allow: ['jobs.* workers'], deny: ['jobs.admin workers'] },
    });
    assert.ok(p.canSubscribe('jobs.a', 'workers'));
    assert.ok(!p.canSubscribe('jobs.a', 'others'));
    assert.ok(!p.canSubscribe('jobs.a', ''));
    assert.ok(!p.canSubscribe('jobs.admin', 'workers'));
  });

  test('a wildcard subscription that overlaps a deny rule is filtered per message', () => {
    const p = new PermissionSet({ subscribe: { deny: ['foo.secret', '*.private'] } });
    assert.ok(p.canSubscribe('foo.*', ''));
    assert.ok(p.needsDeliveryFilter('foo.*'));
    assert.ok(p.needsDeliveryFilter('bar.>'));
    assert.ok(!p.needsDeliveryFilter('baz.public'));
    assert.ok(p.deliveryDenied('foo.secret'));
    assert.ok(p.deliveryDenied('bar.private'));
    assert.ok(!p.deliveryDenied('foo.open'));
  });

  test('a subscription to the denied wildcard itself is refused', () => {
    const p = new PermissionSet({ subscribe: { deny: ['foo.*'] } });
    assert.ok(!p.canSubscribe('foo.*', ''));
    assert.ok(!p.canSubscribe('foo.bar', 'q'));
  });

  test('allow_responses lets a client answer a request it received, max times', () => {
    const set = new PermissionSet({ allowResponses: { max: 2, expires: 0 } });
    const c = new ClientPermissions(set);
    assert.ok(!c.canPublish('_INBOX.abc', 0));
    c.trackReply('_INBOX.abc', 0);
    assert.ok(c.canPublish('_INBOX.abc', 1));
    assert.ok(c.canPublish('_INBOX.abc', 2));
    assert.ok(!c.canPublish('_INBOX.abc', 3));
  });

  test('allow_responses expire after their time limit', () => {
    const c = new ClientPermissions(
      new PermissionSet({ allowResponses: { max: 0, expires: 100 } }),
    );
    c.trackReply('r', 1000);
    assert.ok(c.canPublish('r', 1050));
    assert.ok(!c.canPublish('r', 1200));
  });

  test('an empty publish allow list denies every publish; an empty subscribe allow list allows all', () => {
    const p = new PermissionSet({ publish: { allow: [] }, subscribe: { allow: [] } });
    assert.ok(!p.pubAllowed('x'));
    assert.ok(p.canSubscribe('x', ''));
  });

  test('an invalid subject in a rule is a configuration error', () => {
    assert.throws(() => new PermissionSet({ publish: { deny: ['foo..bar'] } }), BrokerConfigError);
    assert.throws(() => new PermissionSet({ publish: { allow: ['foo q'] } }), BrokerConfigError);
  });
});
