import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MethodNotFoundError } from '../../src/methods/errors.js';
import { createMethodRegistry, METHOD_HANDLERS } from '../../src/methods/registry.js';
import { METHOD_NAMES } from '../../src/protocol/methods.js';

describe('method registry', () => {
  test('every handler is found by its Steward method name', () => {
    const registry = createMethodRegistry();
    for (const name of [
      'REQCliCommand',
      'REQCliCommandCont',
      'REQTailFile',
      'REQHttpGet',
      'REQToFile',
      'REQToFileAppend',
      'REQToConsole',
      'REQNone',
      'REQHello',
      'REQPing',
      'REQPong',
      'REQErrorLog',
      'REQCopyFileFrom',
      'REQCopyFileTo',
      'REQOpProcessList',
      'REQOpProcessStart',
      'REQOpProcessStop',
      'REQRelay',
      'REQCancel',
    ]) {
      assert.equal(registry.has(name), true, name);
      assert.equal(registry.get(name).name, name);
    }
    assert.deepEqual(registry.names(), [...registry.names()].sort());
  });

  test('every registered name is one the protocol knows', () => {
    for (const name of createMethodRegistry().names()) {
      assert.ok((METHOD_NAMES as readonly string[]).includes(name), name);
    }
  });

  test('an unknown method is a MethodNotFoundError naming what exists', () => {
    const registry = createMethodRegistry();
    assert.equal(registry.has('REQNope'), false);
    assert.throws(
      () => registry.get('REQNope'),
      (err: unknown) =>
        err instanceof MethodNotFoundError &&
        err.code === 'ADMIRAL_METHOD_NOT_FOUND' &&
        err.name === 'MethodNotFoundError' &&
        err.method === 'REQNope' &&
        err.message.includes('REQCliCommand'),
    );
  });

  test('kinds: commands stream or request, file writers are replies, hello and errors are events', () => {
    const registry = createMethodRegistry();
    assert.equal(registry.get('REQCliCommand').kind, 'request');
    assert.equal(registry.get('REQCliCommandCont').kind, 'stream');
    assert.equal(registry.get('REQTailFile').kind, 'stream');
    assert.equal(registry.get('REQToFile').kind, 'reply');
    assert.equal(registry.get('REQPong').kind, 'reply');
    assert.equal(registry.get('REQHello').kind, 'event');
    assert.equal(registry.get('REQErrorLog').kind, 'event');
  });

  test('the methods that run code or read the node are privileged', () => {
    const privileged = METHOD_HANDLERS.filter((h) => h.privileged).map((h) => h.name);
    assert.deepEqual(privileged.sort(), [
      'REQCancel',
      'REQCliCommand',
      'REQCliCommandCont',
      'REQCopyFileFrom',
      'REQCopyFileTo',
      'REQHttpGet',
      'REQOpProcessList',
      'REQOpProcessStart',
      'REQOpProcessStop',
      'REQRelay',
      'REQTailFile',
    ]);
  });

  test('a handler registered twice is refused', () => {
    const [first] = METHOD_HANDLERS;
    assert.ok(first);
    assert.throws(() => createMethodRegistry([first, first]), /registered twice/);
  });
});
