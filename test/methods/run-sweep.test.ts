import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { runDirFor, sweepSettledRuns } from '../../src/methods/cli-command.js';
import { startInProcessNode, twoNodes, until } from '../helpers/in-process.js';

// Run directories of commands whose result was committed just before a crash (the node died
// between the commit and the removal) are removed by a sweep; those recovery still needs are not.

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-run-sweep-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function runDir(dataDir: string, id: string, ageMs = 0): Promise<string> {
  const dir = runDirFor(dataDir, id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'meta.json'), '{}');
  await writeFile(join(dir, 'exit'), '0\n');
  if (ageMs > 0) {
    const then = new Date(Date.now() - ageMs);
    await utimes(dir, then, then);
  }
  return dir;
}

test('a sweep removes run directories of settled and long-purged messages, never of stored or running ones', async (t) => {
  const dataDir = await tempDir(t);
  const states: Record<string, string> = {
    done1: 'done',
    interrupted1: 'interrupted',
    running1: 'running',
    stored1: 'stored',
  };
  for (const id of Object.keys(states)) await runDir(dataDir, id);
  await runDir(dataDir, 'purgedOld', 2 * 60 * 60 * 1000);
  await runDir(dataDir, 'unknownNew');
  const removed = await sweepSettledRuns(dataDir, (id) => states[id]);
  assert.deepEqual(removed, ['done1', 'interrupted1', 'purgedOld']);
  for (const id of removed) assert.equal(existsSync(runDirFor(dataDir, id)), false, id);
  for (const id of ['running1', 'stored1', 'unknownNew']) {
    assert.equal(existsSync(runDirFor(dataDir, id)), true, `${id} is kept`);
  }
  assert.deepEqual(await sweepSettledRuns(join(dataDir, 'nothing-here'), () => undefined), []);
});

test('a node removes, when it starts, the run directory a crash left for a command it had settled', async (t) => {
  const nodes = await twoNodes(t, 'admiral-run-sweep-');
  const { dir, a } = nodes;
  let { b } = nodes;
  t.after(() => b.close());
  b.trust.add(a.identity.publicKey, 'a');
  const sent = a.submit(
    JSON.stringify({
      toNode: 'b',
      method: 'REQCliCommand',
      methodArgs: ['true'],
      replyMethod: 'REQNone',
    }),
    'test',
  );
  const id = sent.accepted[0]!;
  await until('the command to complete', () => a.store.outbox.get(id)?.state === 'completed');
  assert.equal(b.store.inbox.get(id)?.state, 'done');
  await b.close();
  // What a crash between the result's commit and the removal leaves.
  const left = await runDir(join(dir, 'b'), id);
  b = await startInProcessNode('b', dir, nodes.brokerUrl);
  await until('the run directory to be swept', () => !existsSync(left));
});
