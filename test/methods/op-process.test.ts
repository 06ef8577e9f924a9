import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cancel } from '../../src/methods/cancel.js';
import { opProcessList, opProcessStart, opProcessStop } from '../../src/methods/op-process.js';
import { makeContext, tempDir } from './context.js';
import { fakeServices } from './services.js';

const METHODS = ['REQCancel', 'REQCliCommand', 'REQHttpGet', 'REQOpProcessStop'];

describe('REQOpProcessList, REQOpProcessStart, REQOpProcessStop, REQCancel', () => {
  test('the list shows subscribers, publishers and running methods with their message ids', async (t) => {
    const services = fakeServices('ship2', METHODS);
    services.runningList.push({
      id: 'abc',
      method: 'REQCliCommand',
      fromNode: 'central',
      startedAt: 0,
    });
    const ctx = makeContext(await tempDir(t), { method: 'REQOpProcessList' });
    const out = await opProcessList.run({ ...ctx, nodeName: 'ship2', services });
    assert.equal(out.status, 'ok');
    const lines = out.data.trim().split('\n');
    assert.ok(lines.includes('subscriber ship2.REQHttpGet running'), out.data);
    assert.ok(lines.includes('publisher ship2->central pending=2'), out.data);
    assert.ok(
      lines.includes(
        'method ship2.REQCliCommand id=abc from=central started=1970-01-01T00:00:00.000Z',
      ),
      out.data,
    );
  });

  test("Steward's stop arguments stop a subscriber, and start brings it back", async (t) => {
    const services = fakeServices('ship2', METHODS);
    const dir = await tempDir(t);
    const stop = makeContext(dir, {
      method: 'REQOpProcessStop',
      methodArgs: ['REQHttpGet', 'ship2', 'subscriber', '199'],
    });
    const stopped = await opProcessStop.run({ ...stop, nodeName: 'ship2', services });
    assert.equal(stopped.status, 'ok', stopped.error);
    assert.deepEqual(services.stoppedMethods(), ['REQHttpGet']);
    const list = await opProcessList.run({
      ...makeContext(dir, { method: 'REQOpProcessList' }),
      nodeName: 'ship2',
      services,
    });
    assert.match(list.data, /subscriber ship2\.REQHttpGet stopped/);
    const start = makeContext(dir, { method: 'REQOpProcessStart', methodArgs: ['REQHttpGet'] });
    const started = await opProcessStart.run({ ...start, nodeName: 'ship2', services });
    assert.equal(started.data, 'started subscriber ship2.REQHttpGet\n');
    assert.deepEqual(services.stoppedMethods(), []);
  });

  test('stopping with the id of a running message cancels it', async (t) => {
    const services = fakeServices('ship2', METHODS);
    services.runningList.push({
      id: 'm1',
      method: 'REQCliCommand',
      fromNode: 'central',
      startedAt: 1,
    });
    const ctx = makeContext(await tempDir(t), {
      method: 'REQOpProcessStop',
      methodArgs: ['REQCliCommand', 'ship2', 'subscriber', 'm1'],
    });
    const out = await opProcessStop.run({ ...ctx, nodeName: 'ship2', services });
    assert.equal(out.status, 'ok', out.error);
    assert.deepEqual(services.cancelled, ['m1']);
    assert.deepEqual(services.stoppedMethods(), [], 'the subscriber itself keeps running');
  });

  for (const [what, args] of [
    ['process control itself', ['REQOpProcessStop', 'ship2', 'subscriber', '1']],
    ['cancel', ['REQCancel', 'ship2', 'subscriber', '1']],
    ['another node', ['REQHttpGet', 'ship9', 'subscriber', '1']],
    ['a publisher', ['REQHttpGet', 'ship2', 'publisher', '1']],
    ['a method the node does not handle', ['REQNope', 'ship2', 'subscriber', '1']],
    ['too few arguments', ['REQHttpGet']],
  ] as const) {
    test(`a stop naming ${what} is refused and changes nothing`, async (t) => {
      const services = fakeServices('ship2', METHODS);
      const ctx = makeContext(await tempDir(t), {
        method: 'REQOpProcessStop',
        methodArgs: [...args],
      });
      const out = await opProcessStop.run({ ...ctx, nodeName: 'ship2', services });
      assert.equal(out.status, 'error');
      assert.equal(out.code, 'ADMIRAL_BAD_METHOD_ARGS');
      assert.deepEqual(services.stoppedMethods(), []);
    });
  }

  test('REQCancel cancels a running message by id and says so', async (t) => {
    const services = fakeServices('ship1', METHODS);
    services.runningList.push({
      id: 'run1',
      method: 'REQCliCommand',
      fromNode: 'central',
      startedAt: 1,
    });
    const ctx = makeContext(await tempDir(t), { method: 'REQCancel', methodArgs: ['run1'] });
    const out = await cancel.run({ ...ctx, services });
    assert.equal(out.status, 'ok');
    assert.equal(out.data, 'cancelled run1 on ship1\n');
  });

  test('REQCancel of a message that is not running fails with ADMIRAL_NOT_RUNNING', async (t) => {
    const ctx = makeContext(await tempDir(t), { method: 'REQCancel', methodArgs: ['gone'] });
    const out = await cancel.run({ ...ctx, services: fakeServices('ship1', METHODS) });
    assert.equal(out.status, 'error');
    assert.equal(out.code, 'ADMIRAL_NOT_RUNNING');
    assert.match(out.error ?? '', /gone to be running on ship1/);
  });

  test('outside a node these methods fail with ADMIRAL_NO_NODE_SERVICES', async (t) => {
    const dir = await tempDir(t);
    for (const h of [opProcessList, opProcessStart, opProcessStop, cancel]) {
      const out = await h.run(makeContext(dir, { method: h.name, methodArgs: ['x'] }));
      assert.equal(out.code, 'ADMIRAL_NO_NODE_SERVICES', h.name);
    }
  });
});
