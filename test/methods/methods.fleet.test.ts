import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadIdentity } from '../../src/protocol/signing.js';
import { FileTrustStore } from '../../src/protocol/trust.js';
import { CLI, type Fleet, startFleet } from '../helpers/fleet.js';

// Steward's documented messages for copy, process control, relay, chaining, tail and HTTP, sent
// unchanged into a live fleet (central + ship1 + ship2 + node1, each its own process). Tools the
// examples call that this machine lacks (`tree`, `docker`) are small stand-ins on PATH, and the
// HTTP examples fetch from a local server instead of the internet.

const TERMINAL = [
  'completed',
  'failed',
  'rejected',
  'expired',
  'cancelled',
  'interrupted',
  'noop',
] as const;

async function sendOne(fleet: Fleet, from: string, raw: string): Promise<string> {
  const result = await fleet.send(from, raw);
  assert.deepEqual(result.rejected, [], raw);
  assert.equal(result.accepted.length, 1, raw);
  return result.accepted[0]!;
}

async function waitForText(path: string, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) {
      throw new Error(
        `${path} did not come to match ${pattern} within ${timeoutMs} ms: ${JSON.stringify(text.slice(0, 500))}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Pids whose command line contains `needle` (from /proc). */
function processesWith(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmd.includes(needle)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function runCli(args: readonly string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.once('exit', (code) => resolve({ code, out }));
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('Steward examples for copy, process control, relay, chaining, tail, HTTP and cancel run on a live fleet', async (t) => {
  // Stand-ins for tools the examples call, found through PATH by every node process.
  const bin = join(process.cwd(), 'dist', `fleet-bin-${process.pid}`);
  await mkdir(bin, { recursive: true });
  t.after(async () => {
    const { rm } = await import('node:fs/promises');
    await rm(bin, { recursive: true, force: true });
  });
  await writeFile(
    join(bin, 'tree'),
    '#!/bin/sh\necho .\nls -1 | sed "s/^/├── /"\necho\necho "tree stand-in"\n',
  );
  await writeFile(
    join(bin, 'docker'),
    '#!/bin/sh\necho "CONTAINER ID   IMAGE   (docker stand-in: $*)"\n',
  );
  await chmod(join(bin, 'tree'), 0o755);
  await chmod(join(bin, 'docker'), 0o755);
  const savedPath = process.env.PATH;
  process.env.PATH = `${bin}:${savedPath}`;
  t.after(() => {
    process.env.PATH = savedPath;
  });

  const server = createServer((req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(`<html><body>served ${req.url}</body></html>`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/05_simple.html`;

  const fleet = await startFleet(t, { nodes: ['ship1', 'ship2', 'node1'] });
  const central = fleet.central.dataDir;
  const dir = (node: string): string => fleet.nodes.get(node)!.dataDir;
  // The relay node must trust the origin to relay for it (REQRelay is privileged).
  const ship1Key = (await loadIdentity(join(dir('ship1'), 'identity.seed'))).publicKey;
  new FileTrustStore(join(central, 'trust.json')).add(ship1Key, 'ship1 (test)');

  await t.test("REQCopyFileFrom: Steward's example copies central's file to ship2", async () => {
    await writeFile(join(central, 'tmp2.txt'), 'a small file\n');
    const id = await sendOne(
      fleet,
      'central',
      '[{"directory": "copy","fileName": "copy.log","toNodes": ["central"],"method":"REQCopyFileFrom","methodArgs": ["./tmp2.txt","ship2","/tmp/tmp2.txt"],"replyMethod":"REQToFileAppend"}]',
    );
    const rec = await fleet.waitFor('central', id, TERMINAL);
    assert.equal(rec.state, 'completed', JSON.stringify(rec));
    assert.equal(await readFile(join(dir('ship2'), 'tmp/tmp2.txt'), 'utf8'), 'a small file\n');
    await waitForText(
      join(central, 'copy/copy.log'),
      /copied central:.*tmp2\.txt .* to ship2:\/tmp\/tmp2\.txt/,
    );
  });

  await t.test(
    'a file of many chunks arrives with the same SHA-256 and no part file left',
    async () => {
      const content = randomBytes(3 * 1024 * 1024 + 17);
      await writeFile(join(central, 'big.bin'), content);
      const id = await sendOne(
        fleet,
        'central',
        JSON.stringify({
          toNode: 'central',
          method: 'REQCopyFileFrom',
          methodArgs: ['big.bin', 'ship2', '/big/big.bin'],
          replyMethod: 'REQNone',
          methodTimeout: 60,
        }),
      );
      const rec = await fleet.waitFor('central', id, TERMINAL, 60_000);
      assert.equal(rec.state, 'completed', JSON.stringify(rec));
      assert.equal(sha(await readFile(join(dir('ship2'), 'big/big.bin'))), sha(content));
      assert.deepEqual(await readdir(join(dir('ship2'), 'copy')), []);
    },
  );

  await t.test(
    'a copy to a path that leads out of the data dir fails and writes nothing',
    async () => {
      const id = await sendOne(
        fleet,
        'central',
        JSON.stringify({
          toNode: 'central',
          method: 'REQCopyFileFrom',
          methodArgs: ['./tmp2.txt', 'ship2', '../../escaped.txt'],
          replyMethod: 'REQNone',
        }),
      );
      const rec = await fleet.waitFor('central', id, TERMINAL);
      assert.equal(rec.state, 'failed');
      assert.match(rec.error ?? '', /climbs out/);
      assert.equal(existsSync(join(fleet.dir, 'escaped.txt')), false);
      assert.equal(existsSync(join(dir('ship2'), '..', '..', 'escaped.txt')), false);
      assert.deepEqual(await readdir(join(dir('ship2'), 'copy')), []);

      const outside = await sendOne(
        fleet,
        'central',
        JSON.stringify({
          toNode: 'central',
          method: 'REQCopyFileFrom',
          methodArgs: ['/etc/hostname', 'ship2', '/stolen/hostname'],
          replyMethod: 'REQNone',
        }),
      );
      const refused = await fleet.waitFor('central', outside, TERMINAL);
      assert.equal(refused.state, 'failed');
      assert.match(refused.error ?? '', /paths\.readAllow/);
      assert.equal(existsSync(join(dir('ship2'), 'stolen')), false);
    },
  );

  await t.test(
    "REQOpProcessList, Stop and Start: Steward's examples list, stop and start REQHttpGet on ship2",
    async () => {
      const list = await sendOne(
        fleet,
        'central',
        '[{"directory":"test/dir","fileName":"test.result","toNode": "ship2","method":"REQOpProcessList","methodArgs": [],"replyMethod":"REQToFileAppend",}]',
      );
      assert.equal((await fleet.waitFor('central', list, TERMINAL)).state, 'completed');
      const listed = await waitForText(
        join(central, 'test/dir/test.result'),
        /subscriber ship2\.REQHttpGet running/,
      );
      assert.match(
        listed,
        /method ship2\.REQOpProcessList id=/,
        'the running list shows itself with its id',
      );

      const stop = await sendOne(
        fleet,
        'central',
        '[{"directory":"test/dir","fileName":"test.result","toNode": "ship2","method":"REQOpProcessStop","methodArgs": ["REQHttpGet","ship2","subscriber","199"],"replyMethod":"REQToFileAppend",}]',
      );
      assert.equal((await fleet.waitFor('central', stop, TERMINAL)).state, 'completed');
      const httpGet = (fileName: string): string =>
        JSON.stringify([
          {
            directory: 'web',
            fileName,
            toNode: 'ship2',
            method: 'REQHttpGet',
            methodArgs: [url],
            replyMethod: 'REQToFile',
            ACKTimeout: 10,
            retries: 3,
            methodTimeout: 3,
          },
        ]);
      const refused = await sendOne(fleet, 'central', httpGet('stopped.html'));
      const r = await fleet.waitFor('central', refused, TERMINAL);
      assert.equal(r.state, 'rejected', JSON.stringify(r));
      assert.match(r.error ?? '', /subscriber for REQHttpGet is stopped/);

      const start = await sendOne(
        fleet,
        'central',
        '[{"directory":"test/dir","fileName":"test.result","toNode": "ship2","method":"REQOpProcessStart","methodArgs": ["REQHttpGet"],"replyMethod":"REQToFileAppend",}]',
      );
      assert.equal((await fleet.waitFor('central', start, TERMINAL)).state, 'completed');
      const fetched = await sendOne(fleet, 'central', httpGet('web.html'));
      assert.equal((await fleet.waitFor('central', fetched, TERMINAL)).state, 'completed');
      assert.match(
        await readFile(join(central, 'web/web.html'), 'utf8'),
        /served \/05_simple\.html/,
      );
      assert.equal(existsSync(join(central, 'web/stopped.html')), false);

      const toFile = await sendOne(
        fleet,
        'central',
        '[{"directory":"test/dir","fileName":"test.result","toNode": "ship2","method":"REQOpProcessList","methodArgs": [],"replyMethod":"REQToFile",}]',
      );
      assert.equal((await fleet.waitFor('central', toFile, TERMINAL)).state, 'completed');
    },
  );

  await t.test("REQHttpGet: Steward's toNodes example fetches on central and ship2", async () => {
    const result = await fleet.send(
      'central',
      JSON.stringify([
        {
          directory: 'httpget',
          fileName: 'finn.no.html',
          toNodes: ['central', 'ship2'],
          method: 'REQHttpGet',
          methodArgs: [url],
          replyMethod: 'REQToFile',
          ACKTimeout: 5,
          retries: 3,
          methodTimeout: 5,
        },
      ]),
    );
    assert.equal(result.accepted.length, 2);
    for (const id of result.accepted) {
      assert.equal((await fleet.waitFor('central', id, TERMINAL)).state, 'completed');
    }
    assert.match(await readFile(join(central, 'httpget/finn.no.html'), 'utf8'), /served/);
  });

  await t.test(
    "REQRelay: Steward's example goes ship1 → central → node1 and back to ship1's console",
    async () => {
      const id = await sendOne(
        fleet,
        'ship1',
        '[{"directory":"/var/tail-logs/","fileName": "my-wifi.log","toNode": "node1","relayViaNode": "central","relayReplyMethod": "REQToConsole","methodArgs": ["bash","-c","tail -f /var/log/wifi.log"],"method":"REQCliCommandCont","replyMethod":"REQToFileAppend","ACKTimeout":5,"retries":3,"replyACKTimeout":5,"replyRetries":3,"methodTimeout": 10}]',
      );
      // This machine has no /var/log/wifi.log: tail says so on stderr and exits 1. That line travels
      // node1 → central (appended to the example's file there) → ship1 (printed by REQToConsole).
      const rec = await fleet.waitFor('ship1', id, TERMINAL);
      assert.equal(rec.method, 'REQRelay');
      assert.equal(rec.toNode, 'central');
      assert.equal(rec.state, 'failed', JSON.stringify(rec));
      assert.equal((rec.result as { from?: string }).from, 'central');
      await waitForText(join(central, 'var/tail-logs/my-wifi.log'), /wifi\.log/);
      await waitFor(
        () =>
          /console[\s\S]*wifi\.log|wifi\.log[\s\S]*console/.test(
            fleet.nodes.get('ship1')!.output(),
          ),
        'ship1 printed the relayed line',
      );
    },
  );

  await t.test(
    'a relayed command that succeeds completes at the origin, handled by relayReplyMethod',
    async () => {
      const id = await sendOne(
        fleet,
        'ship1',
        JSON.stringify({
          directory: 'relayed',
          fileName: 'result.txt',
          toNode: 'node1',
          relayViaNode: 'central',
          relayReplyMethod: 'REQToFileAppend',
          method: 'REQCliCommand',
          methodArgs: ['bash', '-c', 'echo "ran on $(basename "$PWD")"'],
          replyMethod: 'REQToFile',
        }),
      );
      const rec = await fleet.waitFor('ship1', id, TERMINAL);
      assert.equal(rec.state, 'completed', JSON.stringify(rec));
      assert.equal(
        await readFile(join(dir('ship1'), 'relayed/result.txt'), 'utf8'),
        'ran on node1\n',
      );
      assert.equal(await readFile(join(central, 'relayed/result.txt'), 'utf8'), 'ran on node1\n');
      assert.deepEqual(await readdir(join(central, 'relay')), [], 'central dropped the relay link');
    },
  );

  await t.test(
    "{{STEWARD_DATA}}: both of Steward's chaining examples write ship2's output on central",
    async () => {
      const echo = await sendOne(
        fleet,
        'central',
        String.raw`[{"directory":"cli_command_test","fileName":"cli_command.result","toNode": "ship2","method":"REQCliCommand","methodArgs": ["bash","-c","tree"],"replyMethod":"REQCliCommand","replyMethodArgs": ["bash", "-c","echo \"{{STEWARD_DATA}}\" > apekatt.txt"],"replyMethodTimeOut": 10,"ACKTimeout":3,"retries":3,"methodTimeout": 10}]`,
      );
      const hereString = await sendOne(
        fleet,
        'central',
        '[{"directory":"cli_command_test","fileName":"cli_command.result","toNode": "ship2","method":"REQCliCommand","methodArgs": ["bash","-c","tree"],"replyMethod":"REQCliCommand","replyMethodArgs": ["bash", "-c","cat <<< {{STEWARD_DATA}} > hest.txt"],"replyMethodTimeOut": 10,"ACKTimeout":3,"retries":3,"methodTimeout": 10}]',
      );
      for (const id of [echo, hereString]) {
        assert.equal((await fleet.waitFor('central', id, TERMINAL)).state, 'completed');
      }
      const apekatt = await waitForText(join(central, 'apekatt.txt'), /tree stand-in/);
      assert.match(
        apekatt,
        /├── admiral\.db\n/,
        'newlines kept by the quoted placeholder, listing of ship2',
      );
      assert.match(await waitForText(join(central, 'hest.txt'), /tree stand-in/), /admiral\.db/);
    },
  );

  await t.test(
    "REQCliCommandCont: Steward's example streams the command's output into the result file",
    async () => {
      const id = await sendOne(
        fleet,
        'central',
        '[{"directory":"some/cli/command","fileName":"cli.result","toNode": "ship2","method":"REQnCliCommandCont","methodArgs": ["bash","-c","docker ps -a"],"replyMethod":"REQToFileAppend","methodTimeout":10,}]',
      );
      assert.equal((await fleet.waitFor('central', id, TERMINAL)).state, 'completed');
      await waitForText(join(central, 'some/cli/command/cli.result'), /docker stand-in: ps -a/);
    },
  );

  await t.test(
    "REQTailFile: Steward's 200 s example follows ship2's test.log until `admiral cancel`",
    async () => {
      await writeFile(join(dir('ship2'), 'test.log'), 'old line\n');
      const id = await sendOne(
        fleet,
        'central',
        '[{"directory": "./my/log/files/","fileName": "some.log","toNode": "ship2","method":"REQTailFile","methodArgs": ["./test.log"],"ACKTimeout":5,"retries":3,"methodTimeout": 200}]',
      );
      const file = join(central, 'my/log/files/some.log');
      const deadline = Date.now() + 15_000;
      let n = 0;
      // Lines written before the tail opened the file are not sent (tail -f); write until one arrives.
      while (!(existsSync(file) && readFileSync(file, 'utf8').includes('new line'))) {
        assert.ok(Date.now() < deadline, 'no tailed line reached central');
        await writeFile(join(dir('ship2'), 'test.log'), `new line ${n++}\n`, { flag: 'a' });
        await new Promise((r) => setTimeout(r, 300));
      }
      // No --node: central's outbox knows where the message went.
      const cancelled = await runCli(['cancel', id, '--data-dir', central]);
      assert.equal(cancelled.code, 0, cancelled.out);
      assert.match(cancelled.out, new RegExp(`cancelled ${id} on ship2`));
      assert.equal((await fleet.waitFor('central', id, TERMINAL)).state, 'cancelled');
      assert.doesNotMatch(readFileSync(file, 'utf8'), /old line/);

      const other = await sendOne(
        fleet,
        'central',
        '[{"directory": "/my/tail/files/","fileName": "tailfile.log","toNode": "ship2","method":"REQTailFile","methodArgs": ["/var/log/system.log"],"methodTimeout": 10}]',
      );
      const rec = await fleet.waitFor('central', other, TERMINAL);
      assert.equal(rec.state, 'failed', 'there is no /var/log/system.log to follow here');
    },
  );

  await t.test(
    'a cancelled pipeline and a timed-out pipeline leave no process behind',
    async () => {
      const cancelId = await sendOne(
        fleet,
        'central',
        JSON.stringify({
          toNode: 'ship1',
          method: 'REQCliCommand',
          methodArgs: ['bash', '-c', 'sleep 987 | cat'],
          replyMethod: 'REQNone',
          methodTimeout: 60,
        }),
      );
      await waitFor(() => processesWith('sleep 987').length > 0, 'the pipeline did not start');
      const res = await runCli(['cancel', cancelId, '--node', 'ship1', '--data-dir', central]);
      assert.equal(res.code, 0, res.out);
      const rec = await fleet.waitFor('central', cancelId, TERMINAL);
      assert.equal(rec.state, 'cancelled', JSON.stringify(rec));
      assert.deepEqual(processesWith('sleep 987'), []);

      const timeoutId = await sendOne(
        fleet,
        'central',
        JSON.stringify({
          toNode: 'ship1',
          method: 'REQCliCommand',
          methodArgs: ['bash', '-c', 'sleep 986 | cat'],
          replyMethod: 'REQNone',
          methodTimeout: 1,
        }),
      );
      const timedOut = await fleet.waitFor('central', timeoutId, TERMINAL);
      assert.equal(timedOut.state, 'failed');
      assert.match(timedOut.error ?? '', /methodTimeout/);
      assert.deepEqual(processesWith('sleep 986'), []);

      const missing = await runCli(['cancel', cancelId, '--node', 'ship1', '--data-dir', central]);
      assert.equal(missing.code, 1);
      assert.match(missing.out, /to be running on ship1, but it is not/);
    },
  );

  await t.test(
    'an untrusted signer is refused every privileged method and nothing is written',
    async () => {
      // node1 trusts central only; ship2 trusts central only: node1 is a stranger to ship2.
      const marker = join(dir('ship2'), 'untrusted-was-here');
      const privileged: Record<string, unknown>[] = [
        { method: 'REQCliCommand', methodArgs: ['touch', marker] },
        { method: 'REQCliCommandCont', methodArgs: ['touch', marker] },
        { method: 'REQCopyFileFrom', methodArgs: ['./test.log', 'node1', '/stolen.log'] },
        { method: 'REQCopyFileTo', methodArgs: ['x', 'ship2', '/untrusted-was-here'], data: ['x'] },
        { method: 'REQTailFile', methodArgs: ['./test.log'] },
        { method: 'REQHttpGet', methodArgs: [url] },
        { method: 'REQOpProcessList', methodArgs: [] },
        { method: 'REQOpProcessStart', methodArgs: ['REQHttpGet'] },
        { method: 'REQOpProcessStop', methodArgs: ['REQHttpGet', 'ship2', 'subscriber', '1'] },
        { method: 'REQCancel', methodArgs: ['01900000-0000-7000-8000-000000000000'] },
        {
          method: 'REQRelay',
          relayToNode: 'central',
          relayOriginalMethod: 'REQCliCommand',
          methodArgs: ['true'],
        },
      ];
      const result = await fleet.send(
        'node1',
        privileged.map((m) => ({
          toNode: 'ship2',
          replyMethod: 'REQNone',
          methodTimeout: 2,
          ...m,
        })),
      );
      assert.deepEqual(result.rejected, []);
      assert.equal(result.accepted.length, privileged.length);
      for (const [i, id] of result.accepted.entries()) {
        const rec = await fleet.waitFor('node1', id, TERMINAL);
        assert.equal(
          rec.state,
          'rejected',
          `${String(privileged[i]?.['method'])}: ${JSON.stringify(rec)}`,
        );
        assert.match(rec.error ?? '', /not trusted to call/);
      }
      assert.equal(existsSync(marker), false);
      assert.equal(existsSync(join(dir('node1'), 'stolen.log')), false);
      assert.deepEqual(await readdir(join(dir('ship2'), 'copy')), []);
    },
  );
});
