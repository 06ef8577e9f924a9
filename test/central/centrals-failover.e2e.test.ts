import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { LeaderView } from '../../src/central/leadership.js';
import type { CentralReply } from '../../src/central/wire.js';
import {
  type AdmiralProcess,
  spawnAdmiral,
  stopAdmiral,
  untilOutput,
} from '../helpers/admiral-process.js';
import { startNatsCluster } from '../helpers/nats-cluster.js';

// Two central processes on different data dirs sharing their state on an R3 JetStream cluster of
// three nats-servers (docs/operations.md, "Scaling out"): one leads; the leading central and one
// nats-server are killed with SIGKILL while registry writes go on; the standby leads within a few
// seconds and every acknowledged write is still there.

async function ask(nc: NatsConnection, subject: string, body: unknown): Promise<CentralReply> {
  const msg = await nc.request(subject, JSON.stringify(body), { timeout: 2000 });
  return JSON.parse(Buffer.from(msg.data).toString()) as CentralReply;
}

async function leaderView(nc: NatsConnection): Promise<LeaderView | undefined> {
  try {
    const r = await ask(nc, 'adm.central.leader', {});
    return r.ok ? (r.result as LeaderView) : undefined;
  } catch {
    return undefined; // no central answers right now
  }
}

/** How many answers one request on `subject` gets within `ms`. */
async function answers(nc: NatsConnection, subject: string, ms: number): Promise<number> {
  const inbox = `_INBOX.count.${Date.now()}`;
  const sub = nc.subscribe(inbox);
  nc.publish(subject, '{}', { reply: inbox });
  let n = 0;
  const timer = setTimeout(() => sub.unsubscribe(), ms);
  for await (const _m of sub) n++;
  clearTimeout(timer);
  return n;
}

test('of two centrals on an R3 JetStream cluster, the standby leads within seconds of the leader and a server being killed, and no acknowledged registry write is lost', async (t) => {
  const cluster = await startNatsCluster(t, { size: 3, jetstream: true });
  if (!cluster) return;
  const dir = await mkdtemp(join(tmpdir(), 'admiral-centrals-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const [s1, s2, s3] = cluster.servers;
  const central = (name: string, urls: string): AdmiralProcess => {
    const p = spawnAdmiral(
      [
        'node',
        'start',
        '--central-role',
        '--name',
        name,
        '--data-dir',
        join(dir, name),
        '--broker',
        urls,
        '--central-state',
        'jetstream',
        '--state-replicas',
        '3',
      ],
      dir,
    );
    t.after(() => stopAdmiral(p));
    return p;
  };
  // Central a on server 1 first (it leads); b on server 2; both fail over to the others.
  const a = central('central-a', [s1!.url, s2!.url, s3!.url].join(','));
  await untilOutput('central-a up', () => a.output().includes('node central-a is up'), a);
  const b = central('central-b', [s2!.url, s3!.url, s1!.url].join(','));
  await untilOutput('central-b up', () => b.output().includes('node central-b is up'), b);

  const nc = await connect({ servers: [s3!.url, s2!.url], noRandomize: true });
  t.after(() => nc.close());
  const before = await leaderView(nc);
  assert.equal(before?.leader, 'central-a');
  assert.equal(before?.backend, 'jetstream');
  assert.equal(await answers(nc, 'adm.central.jobs', 500), 1, 'only the leader serves jobs');

  const acked: string[] = [];
  const refused: string[] = []; // why the writes that were not acknowledged were not, for the failure message
  let i = 0;
  const write = async (): Promise<void> => {
    const name = `svc-${i++}`;
    const sentAt = Date.now();
    try {
      const r = await ask(nc, 'adm.central.service', { op: 'register', name, data: name });
      if (r.ok) acked.push(name);
      else refused.push(`${name} +${Date.now() - sentAt} ms: ${JSON.stringify(r)}`);
    } catch (err) {
      refused.push(`${name} +${Date.now() - sentAt} ms: ${String(err)}`); // unanswered
    }
  };
  for (let k = 0; k < 30; k++) await write();
  const killedAt = Date.now();
  a.child.kill('SIGKILL');
  await s1!.kill();
  let view: LeaderView | undefined;
  while (Date.now() - killedAt < 15_000) {
    await write();
    view = await leaderView(nc);
    if (view?.leader === 'central-b') break;
  }
  const tookMs = Date.now() - killedAt;
  assert.equal(view?.leader, 'central-b', `no takeover within 15 s: ${b.output()}`);
  assert.ok(tookMs < 10_000, `the standby took ${tookMs} ms to lead`);
  for (let k = 0; k < 20; k++) await write();
  assert.equal(await answers(nc, 'adm.central.jobs', 500), 1, 'the new leader serves jobs');

  // The listing reads the bucket's stream, whose own leader may still be moving off the killed
  // server: ask again (bounded) until a central answers; what is checked is what it lists.
  let list: CentralReply | undefined;
  for (const deadline = Date.now() + 15_000; list === undefined && Date.now() < deadline;) {
    list = await ask(nc, 'adm.central.service', { op: 'list' }).catch(() => undefined);
  }
  assert.ok(list, 'no central answered the listing within 15 s');
  assert.ok(list.ok, JSON.stringify(list));
  const names = new Set((list.result as { name: string }[]).map((e) => e.name));
  assert.ok(
    acked.length >= 40,
    `only ${acked.length} writes were acknowledged; the others:\n${refused.join('\n')}\n${b.output()}`,
  );
  assert.deepEqual(
    acked.filter((n) => !names.has(n)),
    [],
    'acknowledged registry writes lost',
  );
});
