import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import { Authenticator } from '../../src/broker/auth.js';
import { BrokerConfigError } from '../../src/broker/errors.js';
import { type BrokerOptionsInput, BrokerOptionsSchema } from '../../src/broker/options.js';

function auth(input: BrokerOptionsInput): Authenticator {
  return new Authenticator(BrokerOptionsSchema.parse(input));
}

describe('authenticator', () => {
  test('without authorization nothing is required and anyone is accepted', () => {
    const a = auth({});
    assert.equal(a.required, false);
    assert.equal(a.newNonce(), undefined);
    assert.deepEqual(a.authenticate({}, undefined), { user: '', permissions: null });
  });

  test('nkey users get a 15-character base64url nonce', () => {
    const a = auth({ authorization: { users: [{ nkey: createUser().getPublicKey() }] } });
    const nonce = a.newNonce();
    assert.ok(nonce);
    assert.match(nonce, /^[A-Za-z0-9_-]{15}$/);
  });

  test('an nkey signature is accepted as base64url or standard base64, and only for its nonce', () => {
    const kp = createUser();
    const a = auth({ authorization: { users: [{ nkey: kp.getPublicKey() }] } });
    const nonce = a.newNonce()!;
    const sig = Buffer.from(kp.sign(new TextEncoder().encode(nonce)));
    const nkey = kp.getPublicKey();
    assert.ok(a.authenticate({ nkey, sig: sig.toString('base64url') }, nonce));
    assert.ok(a.authenticate({ nkey, sig: sig.toString('base64') }, nonce));
    assert.equal(a.authenticate({ nkey, sig: sig.toString('base64url') }, a.newNonce()), null);
    assert.equal(a.authenticate({ nkey, sig: 'garbage' }, nonce), null);
    assert.equal(a.authenticate({ nkey }, nonce), null);
  });

  test('users get their own permissions or the default ones', () => {
    const a = auth({
      authorization: {
        users: [
          { user: 'a', password: 'x', permissions: { publish: { allow: ['a.>'] } } },
          { user: 'b', password: 'y' },
        ],
        defaultPermissions: { publish: { allow: ['b.>'] } },
      },
    });
    assert.ok(
      a.authenticate({ user: 'a', pass: 'x' }, undefined)?.permissions?.set.pubAllowed('a.1'),
    );
    assert.ok(
      a.authenticate({ user: 'b', pass: 'y' }, undefined)?.permissions?.set.pubAllowed('b.1'),
    );
    assert.equal(a.authenticate({ user: 'b', pass: 'x' }, undefined), null);
    assert.equal(a.authenticate({ user: 'c', pass: 'y' }, undefined), null);
  });

  test('conflicting or unsupported settings are configuration errors', () => {
    assert.throws(
      () => auth({ authorization: { token: 't', users: [{ user: 'a', password: 'b' }] } }),
      BrokerConfigError,
    );
    assert.throws(
      () => auth({ authorization: { user: 'a', password: 'b', users: [{ user: 'c' }] } }),
      BrokerConfigError,
    );
    assert.throws(
      () => auth({ authorization: { user: 'a', password: '$2a$11$abcdefghijklmnopqrstuv' } }),
      BrokerConfigError,
    );
    assert.throws(
      () => auth({ authorization: { users: [{ user: 'a' }, { user: 'a' }] } }),
      BrokerConfigError,
    );
  });
});
