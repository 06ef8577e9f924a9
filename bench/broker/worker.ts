// One benchmark client process. Role given as JSON in argv[2].
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { readyAndWait, report, reportError } from '../lib/workers.js';

type Role =
  | { kind: 'pub'; url: string; subject: string; count: number; size: number }
  | { kind: 'sub'; url: string; subject: string; expect: number; connections: number }
  | { kind: 'requester'; url: string; subject: string; count: number; size: number }
  | { kind: 'responder'; url: string; subject: string }
  | { kind: 'conns'; url: string; count: number };

const role = JSON.parse(process.argv[2] ?? '{}') as Role;

async function pub(nc: NatsConnection, r: Extract<Role, { kind: 'pub' }>): Promise<void> {
  const payload = new Uint8Array(r.size).fill(97);
  await readyAndWait();
  const t0 = performance.now();
  for (let i = 0; i < r.count; i++) {
    nc.publish(r.subject, payload);
    // Let the socket drain now and then, as a real publisher must, instead of buffering everything.
    if (i % 2000 === 1999) await nc.flush();
  }
  await nc.flush();
  report({ count: r.count, elapsedMs: performance.now() - t0 });
}

async function sub(first: NatsConnection, r: Extract<Role, { kind: 'sub' }>): Promise<void> {
  // `connections` subscribers in this process, each on its own connection; `expect` is per subscriber.
  const ncs = [first];
  for (let i = 1; i < r.connections; i++)
    ncs.push(await connect({ servers: r.url, reconnect: false }));
  const total = r.expect * ncs.length;
  let n = 0;
  const finished = new Promise<void>((resolve) => {
    for (const nc of ncs) {
      nc.subscribe(r.subject, {
        callback: () => {
          n++;
          if (n === total) resolve();
        },
      });
    }
  });
  await Promise.all(ncs.map((nc) => nc.flush()));
  await readyAndWait();
  const start = performance.now();
  const timeout = setTimeout(() => {
    report({ count: n, elapsedMs: performance.now() - start, extra: { incomplete: 1 } });
  }, 60_000);
  await finished;
  clearTimeout(timeout);
  report({ count: n, elapsedMs: performance.now() - start });
}

async function requester(
  nc: NatsConnection,
  r: Extract<Role, { kind: 'requester' }>,
): Promise<void> {
  const payload = new Uint8Array(r.size).fill(97);
  await nc.request(r.subject, payload, { timeout: 5000 });
  await readyAndWait();
  const t0 = performance.now();
  for (let i = 0; i < r.count; i++) await nc.request(r.subject, payload, { timeout: 5000 });
  report({ count: r.count, elapsedMs: performance.now() - t0 });
}

async function responder(
  nc: NatsConnection,
  r: Extract<Role, { kind: 'responder' }>,
): Promise<void> {
  let n = 0;
  nc.subscribe(r.subject, {
    callback: (_err, msg) => {
      n++;
      msg.respond(msg.data);
    },
  });
  await nc.flush();
  await readyAndWait();
  // Runs until the parent sends a second message (stop).
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  report({ count: n, elapsedMs: 0 });
}

async function conns(url: string, count: number): Promise<void> {
  await readyAndWait();
  const t0 = performance.now();
  const all: NatsConnection[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, () =>
        connect({ servers: url, reconnect: false }),
      ),
    );
    all.push(...batch);
  }
  const connectedMs = performance.now() - t0;
  const t1 = performance.now();
  await Promise.all(all.map((c) => c.flush()));
  const roundTripMs = performance.now() - t1;
  await readyAndWait();
  await Promise.all(all.map((c) => c.close()));
  report({ count, elapsedMs: connectedMs, extra: { roundTripMs } });
}

try {
  if (role.kind === 'conns') {
    await conns(role.url, role.count);
  } else {
    const nc = await connect({ servers: role.url, reconnect: false });
    if (role.kind === 'pub') await pub(nc, role);
    else if (role.kind === 'sub') await sub(nc, role);
    else if (role.kind === 'requester') await requester(nc, role);
    else await responder(nc, role);
  }
} catch (err) {
  reportError(err);
}
