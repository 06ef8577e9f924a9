import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openStore } from '../../src/store/store.js';
import { tempDataDir } from './helpers.js';

const storeModule = fileURLToPath(new URL('../../src/store/store.js', import.meta.url));

// The child commits rows one transaction at a time (synchronous=NORMAL, no fsync), says
// "committed", then waits to be killed. Nothing is closed or checkpointed.
const child = `
import { openStore } from ${JSON.stringify(storeModule)};
const store = openStore({ dataDir: process.argv[1] });
for (let i = 0; i < 50; i++) {
  store.outbox.enqueue({ id: 'out-' + i, kind: 'request', toNode: 'ship' + (i % 3),
    method: 'REQCliCommand', envelope: Buffer.from('env-' + i), expiresAt: Date.now() + 3600e3,
    ackTimeoutMs: 5000, maxRetries: 3 });
}
store.outbox.markDelivered('out-7');
store.inbox.storeOnce({ id: 'in-1', fromNode: 'central', method: 'REQCliCommand',
  envelope: Buffer.from('x'), expiresAt: Date.now() + 3600e3 });
store.inbox.markRunning('in-1');
store.audit.append({ at: Date.now(), direction: 'in', event: 'started', id: 'in-1',
  fromNode: 'central', toNode: 'me', method: 'REQCliCommand' });
process.stdout.write('committed\\n');
setInterval(() => {}, 1000);
`;

test('rows committed before a kill -9 are all there after reopening', async (t) => {
  const dir = tempDataDir(t);
  const proc = spawn(process.execPath, ['--input-type=module', '-e', child, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => proc.kill('SIGKILL'));
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('committed')) resolve();
    });
    proc.on('exit', (code) =>
      reject(new Error(`child exited ${code} before committing: ${stderr}`)),
    );
  });
  const exited = new Promise((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
  proc.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');

  // The commits live only in the WAL: the child never checkpointed or closed.
  const wal = join(dir, 'admiral.db-wal');
  assert.ok(existsSync(wal) && statSync(wal).size > 0, 'the WAL holds the commits');

  const store = openStore({ dataDir: dir });
  t.after(() => store.close());
  assert.equal(store.outbox.counts().pending, 49);
  assert.equal(store.outbox.get('out-7')?.state, 'delivered');
  assert.equal(store.outbox.get('out-49')?.envelope.toString(), 'env-49');
  assert.deepEqual(store.inbox.interruptRunning(), ['in-1']);
  assert.equal(
    store.inbox.storeOnce({
      id: 'in-1',
      fromNode: 'central',
      method: 'REQCliCommand',
      envelope: Buffer.from('x'),
      expiresAt: Date.now() + 1000,
    }),
    'duplicate',
  );
});
