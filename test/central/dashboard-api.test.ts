import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { startFleet } from '../helpers/fleet.js';

// The dashboard's JSON API and event stream on a real `admiral up` with a real node: what the
// page reads (docs/dashboard.md, "The page's API").

interface Session {
  url: string;
  headers: Record<string, string>;
}

async function session(t: TestContext, nodes: string[]): Promise<Session> {
  const fleet = await startFleet(t, { nodes });
  const url = /dashboard:\s+(http:\/\/\S+)\//.exec(fleet.central.output())?.[1] ?? '';
  const token = (await readFile(join(fleet.central.dataDir, 'api-token'), 'utf8')).trim();
  const res = await fetch(`${url}/ui/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token }),
  });
  const { csrf } = (await res.json()) as { csrf: string };
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  return {
    url,
    headers: { cookie, 'x-admiral-csrf': csrf, 'content-type': 'application/json' },
  };
}

/** Reads server-sent events from /ui/events until `done` says stop (or `ms` pass). */
async function readEvents(
  s: Session,
  done: (events: { event: string; data: unknown }[]) => boolean,
  ms = 20_000,
): Promise<{ event: string; data: unknown }[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  const res = await fetch(`${s.url}/ui/events`, { headers: s.headers, signal: ac.signal });
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const events: { event: string; data: unknown }[] = [];
  let buf = '';
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event !== undefined && data !== undefined)
          events.push({ event, data: JSON.parse(data) });
      }
      if (done(events)) break;
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return events;
}

test('the event stream starts with a snapshot of the inventory and pushes a job as it runs to its end', async (t) => {
  const s = await session(t, ['ship1']);
  const pending = readEvents(s, (evs) =>
    evs.some((e) => e.event === 'job' && (e.data as { state: string }).state === 'completed'),
  );
  await new Promise((r) => setTimeout(r, 300));
  const submitted = await fetch(`${s.url}/ui/api/jobs`, {
    method: 'POST',
    headers: s.headers,
    body: JSON.stringify({ args: ['true'], nodes: ['ship1'] }),
  });
  assert.equal(submitted.status, 201);
  const job = (await submitted.json()) as { id: string; submittedBy: string };
  assert.equal(job.submittedBy, 'dashboard');
  const events = await pending;
  const first = events[0] as { event: string; data: { full: boolean; nodes: { node: string }[] } };
  assert.equal(first.event, 'nodes');
  assert.equal(first.data.full, true);
  assert.ok(
    first.data.nodes.some((n) => n.node === 'ship1'),
    'ship1 is in the snapshot',
  );
  const jobEvents = events
    .filter((e) => e.event === 'job')
    .map((e) => e.data as { id: string; state: string });
  assert.ok(jobEvents.every((j) => j.id === job.id));
  assert.equal(jobEvents.at(-1)?.state, 'completed');
});

test('a job page cuts long output and links the whole of it, served as sandboxed plain text', async (t) => {
  const s = await session(t, ['ship1']);
  const res = await fetch(`${s.url}/ui/api/jobs`, {
    method: 'POST',
    headers: s.headers,
    body: JSON.stringify({
      args: ['sh', '-c', 'head -c 10000 /dev/zero | tr "\\0" a; echo "<script>x</script>" >&2'],
      nodes: ['ship1'],
    }),
  });
  const { id } = (await res.json()) as { id: string };
  let job: {
    state: string;
    nodes: { output?: string; stderr?: string; outputTruncated?: boolean }[];
  };
  for (let i = 0; ; i++) {
    job = (await (
      await fetch(`${s.url}/ui/api/jobs/${id}`, { headers: s.headers })
    ).json()) as typeof job;
    if (job.state !== 'running' || i > 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(job.state, 'completed');
  const n = job.nodes[0];
  assert.equal(n?.output?.length, 4096);
  assert.equal(n?.outputTruncated, true);
  const whole = await fetch(`${s.url}/ui/api/jobs/${id}/nodes/ship1/output`, {
    headers: s.headers,
  });
  assert.equal(whole.status, 200);
  assert.match(whole.headers.get('content-type') ?? '', /^text\/plain/);
  assert.match(whole.headers.get('content-security-policy') ?? '', /sandbox/);
  assert.equal((await whole.text()).length, 10000);
  const err = await fetch(`${s.url}/ui/api/jobs/${id}/nodes/ship1/stderr`, { headers: s.headers });
  assert.equal(await err.text(), '<script>x</script>\n');
  const none = await fetch(`${s.url}/ui/api/jobs/${id}/nodes/nobody/output`, {
    headers: s.headers,
  });
  assert.equal(none.status, 404);
});

test('the preview counts the nodes a target reaches, and a filter that does not parse is a 400 naming it', async (t) => {
  const s = await session(t, ['ship1', 'ship2']);
  const preview = (body: unknown) =>
    fetch(`${s.url}/ui/api/preview`, {
      method: 'POST',
      headers: s.headers,
      body: JSON.stringify(body),
    });
  for (let i = 0; i < 100; i++) {
    const r = (await (await preview({ all: true })).json()) as { count: number };
    if (r.count >= 3) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(await (await preview({ all: true })).json(), {
    count: 3,
    nodes: ['central', 'ship1', 'ship2'],
  });
  assert.equal(
    ((await (await preview({ nodes: ['ship2'] })).json()) as { count: number }).count,
    1,
  );
  const bad = await preview({ where: { cpus: { '>=': 'many' } } });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /many/);
});
