import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { collectFacts, readCustomFacts } from '../../src/fleet/facts.js';
import { VERSION } from '../../src/version.js';

test('built-in facts describe the machine, with the node name, tags and admiral version', () => {
  const f = collectFacts({ node: 'ship1', tags: ['web', 'eu'] });
  assert.equal(f.node, 'ship1');
  assert.deepEqual(f.tags, ['web', 'eu']);
  assert.equal(f.version, VERSION);
  assert.equal(f.platform, process.platform);
  for (const k of ['hostname', 'os', 'release', 'arch'] as const)
    assert.equal(typeof f[k], 'string');
  assert.ok(Number.isInteger(f.cpus) && f.cpus >= 1);
  assert.ok(f.memory.total >= f.memory.free && f.memory.free > 0);
  assert.ok(f.uptime >= 0);
  assert.equal(typeof f.load.avg1, 'number');
  assert.ok(Array.isArray(f.ips));
  assert.ok(!f.ips.includes('127.0.0.1'), 'loopback left out');
});

test('custom facts come from JSON and YAML files in name order; built-ins win; bad files are skipped and reported', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-facts-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, '10-site.json'), JSON.stringify({ rack: 'r1', env: { stage: 'dev' } }));
  await writeFile(join(dir, '20-override.yaml'), 'rack: r12\nowner: ops\nhostname: fake\n');
  await writeFile(join(dir, '30-broken.json'), '{ not json');
  await writeFile(join(dir, '40-list.yml'), '- a\n- b\n');
  await writeFile(join(dir, 'notes.txt'), 'ignored');
  const bad: string[] = [];
  const f = collectFacts({ node: 'n', factsDir: dir, onBadFile: (file) => bad.push(file) });
  assert.equal(f.rack, 'r12', 'later file overrides');
  assert.equal(f.owner, 'ops');
  assert.deepEqual(f.env, { stage: 'dev' });
  assert.notEqual(f.hostname, 'fake', 'a custom fact cannot replace a built-in one');
  assert.deepEqual(
    bad.map((b) => b.slice(dir.length + 1)),
    ['30-broken.json', '40-list.yml'],
  );
  assert.deepEqual(readCustomFacts(join(dir, 'missing')), {}, 'a missing folder is no facts');
});
