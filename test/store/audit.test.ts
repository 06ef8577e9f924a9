import assert from 'node:assert/strict';
import { appendFileSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { type AuditEntry, AuditLog, envelopeToAudit, readAuditLog } from '../../src/store/audit.js';
import { tempDataDir } from './helpers.js';

const entry = (id: string): AuditEntry => ({
  at: 1_700_000_000_000,
  direction: 'out',
  event: 'enqueued',
  id,
  kind: 'request',
  fromNode: 'central',
  toNode: 'ship1',
  method: 'REQCliCommand',
  state: 'pending',
  message: { toNode: 'ship1', method: 'REQCliCommand', methodArgs: ['true'] },
  envelope: envelopeToAudit(new Uint8Array([0, 255, 7])),
});

test('the audit log appends one JSON line per entry and reads them back in order', async (t) => {
  const dir = tempDataDir(t);
  const log = new AuditLog({ dataDir: dir });
  log.append(entry('a'));
  log.append(entry('b'));
  log.close();
  log.close();
  assert.equal(statSync(log.file).mode & 0o777, 0o600);
  const reopened = new AuditLog({ dataDir: dir, fsync: true });
  reopened.append(entry('c'));
  reopened.close();
  const read: AuditEntry[] = [];
  for await (const e of readAuditLog(log.file)) read.push(e);
  assert.deepEqual(
    read.map((e) => e.id),
    ['a', 'b', 'c'],
  );
  assert.deepEqual([...Buffer.from(read[0]?.envelope ?? '', 'base64')], [0, 255, 7]);
  assert.throws(() => log.append(entry('d')), /closed/);
});

test('a torn last line is reported and skipped, not thrown', async (t) => {
  const dir = tempDataDir(t);
  const log = new AuditLog({ dataDir: dir });
  log.append(entry('a'));
  log.close();
  appendFileSync(log.file, '{"at":1,"dire');
  const bad: number[] = [];
  const ids: string[] = [];
  for await (const e of readAuditLog(log.file, (n) => bad.push(n))) ids.push(e.id);
  assert.deepEqual(ids, ['a']);
  assert.deepEqual(bad, [2]);
});
