import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { CLI, type Fleet, startFleet } from '../helpers/fleet.js';
import { startNatsServer } from '../helpers/nats-server.js';

// Facts, inventory, targets, ping and the sub/pub/events tools against a real fleet of processes,
// once over the embedded broker (`admiral up`) and once over nats-server.

interface InventoryRow {
  node: string;
  state: string;
  lastEvent: string;
  facts: Record<string, unknown>;
}

async function nodesJson(fleet: Fleet, args: readonly string[] = []): Promise<InventoryRow[]> {
  const r = await fleet.cli([
    'nodes',
    ...args,
    '--format',
    'json',
    '--cols',
    'node,state,lastEvent,facts',
  ]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as InventoryRow[];
}

async function names(fleet: Fleet, args: readonly string[]): Promise<string[]> {
  const r = await fleet.cli(['nodes', ...args, '--format', 'csv-noheader', '--cols', 'node']);
  assert.equal(r.code, 0, `nodes ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what} did not happen within ${ms} ms: ${String(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts a long-running CLI command and resolves once `ready` shows on its stderr. */
function startCli(fleet: Fleet, args: readonly string[], ready: RegExp) {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: fleet.dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  const isReady = new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (ready.test(stderr)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`)));
  });
  const done = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, isReady, done, stdout: () => stdout, stderr: () => stderr };
}

async function fleetSuite(t: TestContext, brokerUrl: string | undefined): Promise<void> {
  const fleet = await startFleet(t, { nodes: [], ...(brokerUrl !== undefined && { brokerUrl }) });
  // Custom facts: a JSON file and a YAML file in each node's facts.d.
  const facts = async (name: string, json: Record<string, unknown>, yaml: string) => {
    const dir = join(fleet.dir, name, 'facts.d');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, '10-site.json'), JSON.stringify(json));
    await writeFile(join(dir, '20-more.yaml'), yaml);
  };
  await facts('web1', { rack: 'r12', slots: 8 }, 'env:\n  stage: prod\n');
  await facts('web2', { rack: 'r14', slots: 4 }, 'env:\n  stage: staging\n');
  await facts('db1', { rack: 'r3', slots: 2 }, 'env:\n  stage: prod\n');
  await fleet.startNode('web1', ['--tags', 'web,eu-west']);
  await fleet.startNode('web2', ['--tags', 'web,us-east']);
  await fleet.startNode('db1', ['--tags', 'db,eu-west', '--hello-interval', '1']);
  await eventually('three nodes in the inventory', async () => {
    const rows = await nodesJson(fleet);
    return rows.filter((r) => r.state === 'online').length === 4 ? rows : undefined;
  });

  await t.test('facts arrive in the inventory: built-in, tags and custom files', async () => {
    const rows = await nodesJson(fleet);
    assert.deepEqual(
      rows.map((r) => r.node),
      ['central', 'db1', 'web1', 'web2'],
    );
    const web1 = rows.find((r) => r.node === 'web1')!;
    for (const k of [
      'hostname',
      'os',
      'platform',
      'release',
      'arch',
      'cpus',
      'memory',
      'uptime',
      'load',
      'ips',
      'version',
      'node',
      'tags',
    ]) {
      assert.ok(k in web1.facts, `fact ${k}`);
    }
    assert.equal(web1.facts.node, 'web1');
    assert.equal(typeof web1.facts.cpus, 'number');
    assert.equal(typeof (web1.facts.memory as { total: number }).total, 'number');
    assert.ok(Array.isArray(web1.facts.ips));
    assert.deepEqual(web1.facts.tags, ['web', 'eu-west']);
    assert.equal(web1.facts.rack, 'r12');
    assert.deepEqual(web1.facts.env, { stage: 'prod' });

    const r = await fleet.cli(['facts', 'web1', '--format', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { rack: string }).rack, 'r12');
    const text = await fleet.cli(['facts', 'web1']);
    assert.match(
      text.stdout,
      /^env\.stage\s+prod$/m,
      `text shows dotted paths: ${text.stdout}${text.stderr}`,
    );
    const missing = await fleet.cli(['facts', 'nosuch']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /nosuch is not in the inventory/);
  });

  await t.test('every target form selects the right nodes', async () => {
    assert.deepEqual(await names(fleet, ['--nodes', 'web1,db1']), ['db1', 'web1']);
    assert.deepEqual(await names(fleet, ['--all']), ['central', 'db1', 'web1', 'web2']);
    assert.deepEqual(await names(fleet, ['--where', 'tags=web']), ['web1', 'web2']);
    assert.deepEqual(await names(fleet, ['--where', 'node=web?']), ['web1', 'web2']);
    assert.deepEqual(await names(fleet, ['--where', 'rack=r1[0-3]']), ['web1']);
    assert.deepEqual(await names(fleet, ['--where', 'rack~^r1']), ['web1', 'web2']);
    assert.deepEqual(await names(fleet, ['--where', 'slots>=4']), ['web1', 'web2']);
    assert.deepEqual(await names(fleet, ['--where', 'slots<4']), ['db1']);
    assert.deepEqual(await names(fleet, ['--where', 'slots!=4', '--where', 'slots>2']), ['web1']);
    assert.deepEqual(await names(fleet, ['--where', 'env.stage=prod']), ['db1', 'web1']);
    assert.deepEqual(await names(fleet, ['--where', 'env.stage=prod', '--where', 'tags=web']), [
      'web1',
    ]);
    assert.deepEqual(await names(fleet, ['--where', 'memory.total>0', '--where', 'tags=eu-*']), [
      'db1',
      'web1',
    ]);
    assert.deepEqual(await names(fleet, ['web2']), ['web2'], 'positional node names');
    assert.deepEqual(await names(fleet, ['tags=db']), ['db1'], 'positional filter');
    assert.deepEqual(
      await names(fleet, ['--nodes', 'web1,web2,db1', '--where', 'env.stage=prod']),
      ['db1', 'web1'],
    );
  });

  await t.test('a bad filter is refused with a caret under what is wrong', async () => {
    const r = await fleet.cli(['nodes', '--where', 'slots>=four']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /expected a number after `>=`, got "four"/);
    assert.match(r.stderr, /\n\s+slots>=four\n\s+\^/);
    const lines = r.stderr.split('\n');
    const exprLine = lines.findIndex((l) => l.trimStart() === 'slots>=four');
    assert.equal(
      lines[exprLine + 1]?.indexOf('^'),
      lines[exprLine]!.indexOf('four'),
      'caret under the value',
    );
    const op = await fleet.cli(['ping', '--where', 'rack']);
    assert.notEqual(op.code, 0);
    assert.match(op.stderr, /expected an operator/);
  });

  await t.test('ping reaches every node and each filter form on the nodes themselves', async () => {
    const all = await fleet.cli(['ping', '--format', 'json']);
    assert.equal(all.code, 0, all.stderr + all.stdout);
    const report = JSON.parse(all.stdout) as {
      replies: { node: string; rttMs: number }[];
      missing: string[];
      stats: { min: number; avg: number; max: number };
    };
    assert.deepEqual(report.replies.map((r) => r.node).sort(), ['central', 'db1', 'web1', 'web2']);
    assert.deepEqual(report.missing, []);
    assert.ok(report.stats.min <= report.stats.avg && report.stats.avg <= report.stats.max);
    const text = await fleet.cli(['ping', '--where', 'env.stage=prod', '--where', 'slots>2']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^web1\s+time=[\d.]+ ms$/m);
    assert.doesNotMatch(text.stdout, /^(db1|web2|central)\s/m);
    assert.match(text.stdout, /1 replies of 1 expected min\/avg\/max = /);
    const listed = await fleet.cli([
      'ping',
      'web2,db1',
      '--format',
      'csv',
      '--cols',
      'node,status',
    ]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(listed.stdout.trim().split('\n').slice(1).sort(), ['db1,ok', 'web2,ok']);
  });

  await t.test(
    'the inventory answers only keys central trusts, and says how to trust one',
    async () => {
      // web1's own identity: a node, which central does not trust for its services.
      const asWeb1 = ['--data-dir', join(fleet.dir, 'web1')];
      const key = (await fleet.cli(['keys', 'show', ...asWeb1])).stdout.trim();
      assert.match(key, /^U[A-Z0-9]{55}$/);
      const refused = await fleet.cli(['nodes', ...asWeb1]);
      assert.equal(refused.code, 1);
      assert.equal(refused.stdout, '', 'no inventory is printed');
      assert.match(refused.stderr, /inventory query refused: .*untrusted key/);
      assert.ok(refused.stderr.includes(`admiral trust add ${key}`), refused.stderr);
      // A ping still gets its answers; without the inventory it cannot name who is missing.
      const ping = await fleet.cli(['ping', '--all', '--timeout', '1s', ...asWeb1]);
      assert.match(ping.stdout, /^web2\s+time=/m);
      assert.match(ping.stdout, /note: inventory query refused/);
      const trust = await fleet.cli(['trust', 'add', key, '--label', 'web1-operator']);
      assert.equal(trust.code, 0, trust.stderr);
      assert.deepEqual(await names(fleet, asWeb1), ['central', 'db1', 'web1', 'web2']);
      assert.equal((await fleet.cli(['trust', 'remove', key])).code, 0);
      assert.equal((await fleet.cli(['nodes', ...asWeb1])).code, 1, 'refused again once removed');
    },
  );

  await t.test('sub prints what pub publishes, bounded by --count', async () => {
    const sub = startCli(
      fleet,
      ['sub', 'test.*', '--count', '2', '--timeout', '20', '--format', 'jsonl'],
      /listening on test\.\*/,
    );
    await sub.isReady;
    const pub = await fleet.cli(['pub', 'test.a', 'hello world']);
    assert.equal(pub.code, 0, pub.stderr);
    assert.equal((await fleet.cli(['pub', 'test.b', '{"n":2}', '--count', '3'])).code, 0);
    assert.equal(await sub.done, 0, sub.stderr());
    const lines = sub
      .stdout()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { subject: string; data: string });
    assert.equal(lines.length, 2);
    assert.deepEqual(lines[0], { subject: 'test.a', data: 'hello world' });
    assert.deepEqual(lines[1], { subject: 'test.b', data: '{"n":2}' }, 'stops at --count');
  });

  await t.test(
    'a stopped node goes offline, ping names it as not answering, events show it',
    async () => {
      const events = startCli(
        fleet,
        ['events', '--type', 'node', '--count', '50', '--timeout', '20'],
        /listening for events/,
      );
      await events.isReady;
      await fleet.nodes.get('web2')!.stop();
      await eventually('web2 offline', async () => {
        const row = (await nodesJson(fleet)).find((r) => r.node === 'web2');
        return row?.state === 'offline' ? row : undefined;
      });
      const r = await fleet.cli(['ping', '--timeout', '1s']);
      assert.equal(r.code, 3, `exit 3 when some did not answer: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /3 replies of 4 expected/);
      assert.match(r.stdout, /did not answer \(1\): web2$/m);
      await eventually('the offline event printed', async () =>
        /node web2 offline/.test(events.stdout()) ? true : undefined,
      );
      events.child.kill('SIGTERM');
      await events.done;
    },
  );

  await t.test('a node whose hellos stop is marked offline after three intervals', async () => {
    const events = startCli(
      fleet,
      ['events', '--type', 'node', '--count', '50', '--timeout', '20'],
      /listening for events/,
    );
    await events.isReady;
    await fleet.nodes.get('db1')!.kill9();
    const started = Date.now();
    const row = await eventually('db1 offline', async () => {
      const r = (await nodesJson(fleet)).find((x) => x.node === 'db1');
      return r?.state === 'offline' ? r : undefined;
    });
    assert.equal(row.lastEvent, 'stale');
    assert.ok(Date.now() - started < 10_000);
    assert.deepEqual(await names(fleet, ['--online', '--all']), ['central', 'web1']);
    // A crashed node says nothing: central says it went offline, for `admiral events`.
    await eventually('the offline event printed', async () =>
      /node db1 offline/.test(events.stdout()) ? true : undefined,
    );
    events.child.kill('SIGTERM');
    await events.done;
    const again = (await nodesJson(fleet)).find((x) => x.node === 'db1');
    assert.equal(again?.lastEvent, 'stale', 'the inventory keeps its own record');
  });
}

test(
  'fleet over the embedded broker: facts, inventory, targets, ping, tools',
  {
    timeout: 120_000,
  },
  async (t) => {
    await fleetSuite(t, undefined);
  },
);

test(
  'fleet over nats-server: facts, inventory, targets, ping, tools',
  {
    timeout: 120_000,
  },
  async (t) => {
    const server = await startNatsServer(t);
    if (server === undefined) return;
    await fleetSuite(t, server.url);
  },
);
