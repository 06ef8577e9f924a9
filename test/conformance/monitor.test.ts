import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { type BrokerUnderTest, forEachBroker, RawClient } from './brokers.js';

// The monitoring HTTP endpoint on both brokers, started from the same `http_port: -1` config.
// nats-server runs a system account whose internal subscriptions are counted too, so the cases
// compare key sets, the figures of the test's own clients, and exact error texts.

const MONITOR = 'http_port: -1\n';

type Json = Record<string, unknown>;

async function get(b: BrokerUnderTest, path: string): Promise<{ status: number; text: string }> {
  assert.ok(b.monitorUrl, `expected ${b.kind} to report a monitoring URL`);
  const res = await fetch(`${b.monitorUrl}${path}`);
  return { status: res.status, text: await res.text() };
}

async function getJson(b: BrokerUnderTest, path: string): Promise<Json> {
  const { status, text } = await get(b, path);
  assert.equal(status, 200, `GET ${path}: ${text}`);
  return JSON.parse(text) as Json;
}

/** A raw client that has sent CONNECT and whose commands the broker has processed. */
async function client(
  t: TestContext,
  b: BrokerUnderTest,
  connect: Json,
  ops = '',
): Promise<RawClient> {
  const c = await RawClient.open(t, b.port);
  c.write(`CONNECT ${JSON.stringify({ verbose: false, ...connect })}\r\n${ops}PING\r\n`);
  assert.ok(await c.waitFor((s) => s.includes('PONG\r\n')), `no PONG: ${c.text}`);
  return c;
}

function sortedKeys(o: unknown): string[] {
  return Object.keys(o as Json).sort();
}

/** The keys the 2.9.10 /varz has with monitoring on and nothing else configured. */
const VARZ_KEYS = [
  'auth_timeout',
  'cluster',
  'config_load_time',
  'connections',
  'cores',
  'cpu',
  'gateway',
  'go',
  'gomaxprocs',
  'host',
  'http_base_path',
  'http_host',
  'http_port',
  'http_req_stats',
  'https_port',
  'in_bytes',
  'in_msgs',
  'jetstream',
  'leaf',
  'leafnodes',
  'max_connections',
  'max_control_line',
  'max_payload',
  'max_pending',
  'mem',
  'mqtt',
  'now',
  'out_bytes',
  'out_msgs',
  'ping_interval',
  'ping_max',
  'port',
  'proto',
  'remotes',
  'routes',
  'server_id',
  'server_name',
  'slow_consumers',
  'start',
  'subscriptions',
  'tls_timeout',
  'total_connections',
  'uptime',
  'version',
  'websocket',
  'write_deadline',
];

forEachBroker(
  '/varz describes the server with nats-server’s field names and its live counters',
  async (t, b) => {
    const c = await client(t, b, { name: 'v' }, 'SUB v.x 1\r\nPUB v.x 2\r\nhi\r\n');
    const info = JSON.parse(/^INFO (.*) \r\n/.exec(c.text)![1]!) as Json;
    const v = await getJson(b, '/varz');
    // nats-server also lists its system account, which the embedded broker does not have.
    assert.deepEqual(
      sortedKeys(v).filter((k) => k !== 'system_account'),
      VARZ_KEYS,
    );
    assert.equal(v.server_id, info.server_id);
    assert.equal(v.version, '2.9.10');
    assert.equal(v.port, b.port);
    // As configured, not as bound: nats-server reports its option value.
    assert.equal(v.http_port, -1);
    assert.equal(v.http_host, '127.0.0.1');
    assert.equal(v.max_payload, 1048576);
    assert.equal(v.max_control_line, 4096);
    assert.equal(v.max_pending, 67108864);
    assert.equal(v.ping_interval, 120_000_000_000);
    assert.equal(v.write_deadline, 10_000_000_000);
    assert.equal(v.auth_timeout, 2);
    assert.equal(v.connections, 1);
    assert.equal(v.total_connections, 1);
    assert.equal(v.in_msgs, 1);
    assert.equal(v.out_msgs, 1);
    assert.equal(v.in_bytes, 2);
    assert.equal(v.out_bytes, 2);
    assert.match(String(v.start), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    assert.match(String(v.uptime), /^\d+s$/);
    assert.deepEqual(v.http_req_stats, { '/varz': 1 });
    assert.deepEqual(v.cluster, {});
    const again = await getJson(b, '/varz');
    assert.deepEqual(again.http_req_stats, { '/varz': 2 });
  },
  { config: MONITOR },
);

forEachBroker(
  '/connz lists each client with its name, counters and subscriptions, in pages',
  async (t, b) => {
    await client(t, b, { name: 'first' }, 'SUB a.b 1\r\nSUB c.* q 2\r\n');
    const second = await client(
      t,
      b,
      { name: 'second', lang: 'nats.js', version: '3.4.0' },
      'SUB a.b 9\r\nPUB a.b 3\r\nabc\r\n',
    );
    await second.waitFor((s) => s.includes('MSG a.b 9 3'));
    const all = await getJson(b, '/connz');
    assert.deepEqual(sortedKeys(all), [
      'connections',
      'limit',
      'now',
      'num_connections',
      'offset',
      'server_id',
      'total',
    ]);
    assert.equal(all.num_connections, 2);
    assert.equal(all.total, 2);
    assert.equal(all.offset, 0);
    assert.equal(all.limit, 1024);
    const [c1, c2] = all.connections as Json[];
    assert.ok((c1!.cid as number) < (c2!.cid as number), 'sorted by cid');
    assert.deepEqual(sortedKeys(c1), [
      'cid',
      'idle',
      'in_bytes',
      'in_msgs',
      'ip',
      'kind',
      'last_activity',
      'name',
      'out_bytes',
      'out_msgs',
      'pending_bytes',
      'port',
      'rtt',
      'start',
      'subscriptions',
      'type',
      'uptime',
    ]);
    assert.deepEqual(sortedKeys(c2), [...sortedKeys(c1), 'lang', 'version'].sort());
    assert.equal(c1!.kind, 'Client');
    assert.equal(c1!.type, 'nats');
    assert.equal(c1!.ip, '127.0.0.1');
    assert.equal(c1!.name, 'first');
    assert.equal(c1!.subscriptions, 2);
    assert.equal(c1!.out_msgs, 1);
    assert.equal(c1!.out_bytes, 3);
    assert.equal(c2!.in_msgs, 1);
    assert.equal(c2!.in_bytes, 3);
    assert.equal(c2!.out_msgs, 1);
    assert.equal(c2!.lang, 'nats.js');
    assert.equal(c2!.version, '3.4.0');
    assert.match(String(c1!.rtt), /^\d+(\.\d+)?(ns|µs|ms|s)$/);

    const subs = await getJson(b, '/connz?subs=1');
    const names = (subs.connections as Json[])[0]!.subscriptions_list as string[];
    assert.deepEqual(names.sort(), ['a.b', 'c.*']);
    assert.equal((subs.connections as Json[])[0]!.subscriptions_list_detail, undefined);
    const detail = await getJson(b, '/connz?subs=detail');
    const bySid = (a: Json, b: Json): number => Number(a.sid) - Number(b.sid);
    // nats-server walks a Go map: the order is random.
    const details = (detail.connections as Json[])[0]!.subscriptions_list_detail as Json[];
    assert.deepEqual(details.sort(bySid), [
      { subject: 'a.b', sid: '1', msgs: 1, cid: c1!.cid },
      { subject: 'c.*', qgroup: 'q', sid: '2', msgs: 0, cid: c1!.cid },
    ]);

    const page = await getJson(b, '/connz?offset=1&limit=1');
    assert.equal(page.num_connections, 1);
    assert.equal(page.total, 2);
    assert.equal(page.offset, 1);
    assert.equal(page.limit, 1);
    assert.equal((page.connections as Json[])[0]!.name, 'second');
    const past = await getJson(b, '/connz?offset=5');
    assert.deepEqual(past.connections, []);
    assert.equal(past.num_connections, 0);

    const bySubs = await getJson(b, '/connz?sort=subs');
    assert.equal((bySubs.connections as Json[])[0]!.name, 'first');
    const byCid = await getJson(b, `/connz?cid=${String(c2!.cid)}`);
    assert.equal(byCid.limit, 1);
    assert.equal((byCid.connections as Json[])[0]!.name, 'second');
  },
  { config: MONITOR },
);

forEachBroker(
  '/connz?auth=1 names the user each client authenticated as',
  async (t, b) => {
    await client(t, b, { name: 'u', user: 'alice', pass: 's3cret' });
    const plain = await getJson(b, '/connz');
    assert.equal((plain.connections as Json[])[0]!.authorized_user, undefined);
    const auth = await getJson(b, '/connz?auth=true');
    assert.equal((auth.connections as Json[])[0]!.authorized_user, 'alice');
    const v = await getJson(b, '/varz');
    assert.equal(v.auth_required, true);
  },
  { config: `${MONITOR}authorization { users: [ { user: alice, password: s3cret } ] }\n` },
);

forEachBroker(
  '/subsz reports sublist statistics, and with subs=1 the matching subscriptions',
  async (t, b) => {
    const c = await client(t, b, {}, 'SUB sz.a 1\r\nSUB sz.* grp 2\r\nSUB other 3\r\n');
    const stats = await getJson(b, '/subsz');
    assert.deepEqual(sortedKeys(stats), [
      'avg_fanout',
      'cache_hit_rate',
      'max_fanout',
      'num_cache',
      'num_inserts',
      'num_matches',
      'num_removes',
      'num_subscriptions',
    ]);
    const before = stats.num_subscriptions as number;
    c.write('UNSUB 3\r\nPING\r\n');
    await c.waitFor((s) => s.split('PONG').length === 3);
    const after = await getJson(b, '/subsz');
    assert.equal(after.num_subscriptions, before - 1);
    assert.equal(after.num_removes, (stats.num_removes as number) + 1);

    const listed = await getJson(b, '/subsz?subs=1&test=sz.a');
    assert.deepEqual(
      sortedKeys(listed),
      [
        ...sortedKeys(stats),
        'limit',
        'now',
        'offset',
        'server_id',
        'subscriptions_list',
        'total',
      ].sort(),
    );
    const list = (listed.subscriptions_list as Json[])
      .map(({ cid: _cid, ...rest }) => rest)
      .sort((x, y) => Number(x.sid) - Number(y.sid));
    assert.deepEqual(list, [
      { account: '$G', subject: 'sz.a', sid: '1', msgs: 0 },
      { account: '$G', subject: 'sz.*', qgroup: 'grp', sid: '2', msgs: 0 },
    ]);
    assert.equal(listed.total, 2);
    // No match: only the statistics, as nats-server sends them.
    const none = await getJson(b, '/subsz?subs=1&test=nothing.here');
    assert.deepEqual(sortedKeys(none), sortedKeys(stats));
  },
  { config: MONITOR },
);

forEachBroker(
  '/healthz answers ok, unknown paths 404 and malformed parameters 400 with nats-server’s text',
  async (_t, b) => {
    assert.deepEqual(await get(b, '/healthz'), { status: 200, text: '{"status":"ok"}' });
    assert.deepEqual(await get(b, '/nothere'), { status: 404, text: '404 page not found\n' });
    assert.deepEqual(await get(b, '/connz?limit=abc'), {
      status: 400,
      text: `Error decoding int for 'limit': strconv.Atoi: parsing "abc": invalid syntax`,
    });
    assert.deepEqual(await get(b, '/connz?subs=maybe'), {
      status: 400,
      text: `Error decoding boolean for 'subs': strconv.ParseBool: parsing "maybe": invalid syntax`,
    });
    assert.deepEqual(await get(b, '/connz?sort=colour'), {
      status: 400,
      text: 'invalid sorting option: colour',
    });
    assert.deepEqual(await get(b, '/subsz?subs=1&test=a.*'), {
      status: 400,
      text: 'invalid test subject, must be valid publish subject: a.*',
    });
    const root = await get(b, '/');
    assert.equal(root.status, 200);
    for (const p of ['varz', 'connz', 'subsz', 'healthz']) {
      assert.ok(root.text.includes(`href=./${p}`), `index links ${p}`);
    }
  },
  { config: MONITOR },
);
