import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { ensureServerPki, serverNames } from '../../src/central/pki.js';
import type { CentralReply } from '../../src/central/wire.js';
import { untilOutput } from '../helpers/admiral-process.js';
import {
  assertRanOnceEach,
  leaderOf,
  startStandby,
  twoBatchJob,
  untilOnline,
} from '../helpers/centrals.js';
import { runCli, startFleet } from '../helpers/fleet.js';
import { startOperatorNats } from '../helpers/nats-operator.js';

// Issue 15's proof, whole (docs/operations.md, "Scaling out"): three nats-servers clustered with
// JetStream (R3) in operator mode, with TLS; two centrals sharing one name, one key and one
// operator, their state (registry, jobs, enrolment) in KV buckets; ten nodes that joined with the
// one command `nats init` prints (a join token and the enrolment JWT), each logging in with the
// user JWT central issued it. Registry writes go on while a job runs on the ten nodes in two
// batches; mid-job the leading central and one nats-server die by SIGKILL. The standby takes over:
// the job completes with every node having run the command exactly once, `admiral run` (started
// before the kill) ends with the right result, every acknowledged registry write is there, and
// the standby revokes a node the dead leader enrolled: that node is cut off and its JWT no longer
// logs in.

const creds = (text: string) => credsAuthenticator(new TextEncoder().encode(text));

test('scale-out: R3 JetStream, two centrals, ten JWT-enrolled nodes; leader and a server killed mid-job; job, registry and revocation all hold', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-scale-out-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const aDir = join(dir, 'admiral-data');
  const init = await runCli(['nats', 'init', '--data-dir', aDir], dir);
  assert.equal(init.code, 0, init.stderr);
  const enrolJwt = /--enrol-jwt (\S+)/.exec(init.stdout)?.[1];
  assert.ok(enrolJwt, init.stdout);
  const pki = await ensureServerPki(join(dir, 'servers'), serverNames('127.0.0.1'));
  const chain = join(dir, 'servers', 'chain.pem');
  const key = join(dir, 'servers', 'key.pem');
  await writeFile(chain, pki.certChainPem);
  await writeFile(key, pki.keyPem, { mode: 0o600 });
  const nats = await startOperatorNats(t, {
    size: 3,
    jetstream: true,
    dataDir: aDir,
    tls: { certFile: chain, keyFile: key, caFile: pki.caFile },
  });
  if (nats === undefined) return;
  const [s1, s2, s3] = nats.cluster.servers;
  assert.ok(s1 && s2 && s3);
  const urls = (...s: (typeof s1)[]): string =>
    s.map((x) => x.url.replace('nats://', 'tls://')).join(',');
  const central = (data: string, instance: string): string[] => [
    '--root-ca',
    pki.caFile,
    '--creds',
    join(data, 'nats', 'central.creds'),
    '--nats-operator',
    join(data, 'nats'),
    '--central-state',
    'jetstream',
    '--state-replicas',
    '3',
    '--central-instance',
    instance,
    '--hello-interval',
    '1',
  ];

  const fleet = await startFleet(t, {
    dir,
    nodes: [],
    brokerUrl: urls(s1, s2, s3),
    nodeArgs: central(aDir, 'a'),
  });

  // An operator's connection (central's own creds), on the servers that survive.
  const nc: NatsConnection = await connect({
    servers: [s3.url, s2.url],
    noRandomize: true,
    authenticator: creds(readFileSync(join(aDir, 'nats', 'central.creds'), 'utf8')),
    tls: { caFile: pki.caFile },
  });
  t.after(() => nc.close());
  const ask = async (subject: string, body: unknown): Promise<CentralReply> => {
    const m = await nc.request(subject, JSON.stringify(body), { timeout: 2000 });
    return JSON.parse(Buffer.from(m.data).toString()) as CentralReply;
  };
  const leader = () => leaderOf(nc);
  assert.equal(await leader(), 'a');
  const cli = (args: readonly string[]) => runCli(['--data-dir', aDir, ...args], dir);

  // Ten nodes join with one command's worth of settings each: token, CA fingerprint, enrolment JWT.
  const made = await cli(['tokens', 'create']);
  assert.equal(made.code, 0, made.stderr);
  const token = /\S+\.\S+/.exec(made.stdout)?.[0];
  assert.ok(token, made.stdout);
  const joining = {
    'join.token': token,
    'join.caFingerprint': pki.caFingerprint,
    'join.enrolJwt': enrolJwt,
    'join.retryInterval': 1,
    helloInterval: 1,
    'broker.reconnectWait': 0.2,
    'broker.reconnectJitterMs': 0,
    'broker.reconnectJitterTlsMs': 0,
  };
  const onS2 = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const onS3 = ['n6', 'n7', 'n8', 'n9', 'n10'];
  const hostA = await fleet.startHost('hostA', onS2, {
    ...joining,
    'broker.url': urls(s2, s3, s1),
  });
  await fleet.startHost('hostB', onS3, { ...joining, 'broker.url': urls(s3, s2, s1) });
  const all = [...onS2, ...onS3];
  for (const n of all) {
    const joined = readFileSync(join(dir, n, 'broker.creds'), 'utf8');
    assert.match(joined, /BEGIN NATS USER JWT/, `${n} logs in with a user JWT`);
  }
  // The standby starts only now: what it knows of the enrolled nodes comes from the shared state.
  const b = await startStandby(t, {
    dir: join(dir, 'central-b'),
    from: aDir,
    cwd: dir,
    withNats: true,
    args: ['--broker', urls(s2, s3, s1), ...central(join(dir, 'central-b'), 'b')],
  });
  await untilOnline(cli, all);

  // Registry writes, before and through the failover; those acknowledged must all stay.
  const acked: string[] = [];
  const refused: string[] = [];
  let i = 0;
  const write = async (): Promise<void> => {
    const name = `svc-${i++}`;
    try {
      const r = await ask('adm.central.service', { op: 'register', name, data: name });
      if (r.ok) acked.push(name);
      else refused.push(`${name}: ${JSON.stringify(r)}`);
    } catch (err) {
      refused.push(`${name}: ${String(err)}`);
    }
  };
  for (let k = 0; k < 20; k++) await write();

  const runs = join(dir, 'runs.log');
  const { running, firstBatch } = twoBatchJob(cli, all, runs);
  await firstBatch(() => fleet.central.output());
  const killedAt = Date.now();
  await fleet.central.kill9();
  await s1.kill();
  while (Date.now() - killedAt < 20_000) {
    await write();
    if ((await leader()) === 'b') break;
  }
  assert.equal(await leader(), 'b', `no takeover within 20 s:\n${b.output()}`);
  for (let k = 0; k < 10; k++) await write();

  const done = await running;
  // What the servers said of closed connections and errors, should the CLI have lost its own.
  const trail = nats.cluster.servers
    .map((x) =>
      x
        .log()
        .split('\n')
        .filter(
          (l) => /\[(ERR|WRN)\]|closed|Slow|Stale|Authorization/i.test(l) && !/route/i.test(l),
        )
        .slice(-15)
        .map((l) => `${x.name}: ${l}`)
        .join('\n'),
    )
    .join('\n');
  const output = `central b:\n${b.output()}\nservers:\n${trail}`;
  await assertRanOnceEach(done, all, runs, output);

  let list: CentralReply | undefined;
  for (const deadline = Date.now() + 15_000; list === undefined && Date.now() < deadline;) {
    list = await ask('adm.central.service', { op: 'list' }).catch(() => undefined);
  }
  assert.ok(list?.ok, JSON.stringify(list));
  const names = new Set((list.result as { name: string }[]).map((e) => e.name));
  assert.ok(acked.length >= 25, `only ${acked.length} writes acknowledged:\n${refused.join('\n')}`);
  assert.deepEqual(
    acked.filter((n) => !names.has(n)),
    [],
    'acknowledged registry writes lost',
  );

  // The standby, now leading, knows the nodes the dead leader enrolled, and revokes one.
  const n1Creds = readFileSync(join(dir, 'n1', 'broker.creds'), 'utf8');
  const before = hostA.output().length;
  const revoke = await cli(['nodes', 'revoke', 'n1']);
  assert.equal(revoke.code, 0, revoke.stdout + revoke.stderr);
  // Its connection is closed by the servers (the pushed revocation), with no reload.
  await untilOutput(
    'n1 cut off',
    () => /disconnected from the broker node=n1 /.test(hostA.output().slice(before)),
    { child: hostA.child, output: hostA.output, exited: Promise.resolve(null) },
  );
  await assert.rejects(
    connect({
      servers: [s2.url, s3.url],
      authenticator: creds(n1Creds),
      tls: { caFile: pki.caFile },
      reconnect: false,
    }),
    /authorization|authentication/i,
    "the revoked node's JWT still logs in",
  );
});
