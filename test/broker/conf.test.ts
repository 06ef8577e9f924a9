import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import {
  BrokerConfigFileError,
  loadBrokerConfigFile,
  parseGoDuration,
  parseNatsConf,
} from '../../src/broker/conf.js';
import { requireNatsServer } from '../helpers/nats-server.js';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'admiral-conf-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function load(t: TestContext, text: string, name = 'broker.conf') {
  const dir = await tempDir(t);
  const file = join(dir, name);
  await writeFile(file, text);
  return { file, dir, options: loadBrokerConfigFile(file) };
}

async function rejectsWith(
  promise: Promise<unknown>,
  pattern: RegExp,
): Promise<BrokerConfigFileError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(
    caught instanceof BrokerConfigFileError,
    `expected BrokerConfigFileError, got ${caught}`,
  );
  assert.equal(caught.code, 'ADMIRAL_BROKER_CONFIG_FILE');
  assert.equal(caught.name, 'BrokerConfigFileError');
  assert.match(caught.message, pattern);
  return caught;
}

test('the three key separators, comments and both quote styles parse alike', () => {
  const conf = parseNatsConf(
    [
      '# hash comment',
      'a: 1 // slash comment',
      'b = "two"',
      "c 'three'",
      'd: bare-string; e: true',
      'f: "esc\\t\\"q\\" \\x41"',
    ].join('\n'),
  );
  assert.deepEqual(conf, {
    a: 1,
    b: 'two',
    c: 'three',
    d: 'bare-string',
    e: true,
    f: 'esc\t"q" A',
  });
});

test('booleans accept true/false, yes/no and on/off in any case', () => {
  const conf = parseNatsConf('a: yes\nb: OFF\nc: On\nd: no\ne: "true"');
  assert.deepEqual(conf, { a: true, b: false, c: true, d: false, e: 'true' });
});

test('size suffixes follow nats-server: k is 1000, kb/ki are 1024, up to g', () => {
  const conf = parseNatsConf('a: 1k\nb: 1KB\nc: 64MB\nd: 2m\ne: 1Gi\nf: 1.5\ng: -3');
  assert.deepEqual(conf, {
    a: 1000,
    b: 1024,
    c: 64 * 1024 * 1024,
    d: 2_000_000,
    e: 1024 ** 3,
    f: 1.5,
    g: -3,
  });
});

test('values starting with a digit but not numbers stay strings (durations, addresses)', () => {
  const conf = parseNatsConf('a: 10s\nb: 127.0.0.1:4222\nc: 500ms\nd: 1h30m');
  assert.deepEqual(conf, { a: '10s', b: '127.0.0.1:4222', c: '500ms', d: '1h30m' });
});

test('nested maps and arrays parse with commas, new lines and comments between entries', () => {
  const conf = parseNatsConf(`
authorization {
  users = [
    { user: a, password: b }, # first
    {user: "c"
     password: 'd'}
  ]
}
list: [ x, "y"
  z ]
`);
  assert.deepEqual(conf, {
    authorization: {
      users: [
        { user: 'a', password: 'b' },
        { user: 'c', password: 'd' },
      ],
    },
    list: ['x', 'y', 'z'],
  });
});

test('a whole file may be wrapped in braces', () => {
  assert.deepEqual(parseNatsConf('{\n port: 4222\n}\n'), { port: 4222 });
});

test('variables resolve from earlier keys in enclosing maps, then the environment', () => {
  const conf = parseNatsConf(
    'P = { publish: "x" }\nauthorization { perms: $P, tok: $ADMIRAL_T }',
    '<t>',
    {
      ADMIRAL_T: 'secret',
    },
  );
  assert.deepEqual(conf['authorization'], { perms: { publish: 'x' }, tok: 'secret' });
  assert.throws(
    () => parseNatsConf('a: $NOPE_NOT_SET', '<t>', {}),
    /Variable reference for 'NOPE_NOT_SET'/,
  );
});

test('a parse error names the file and the line', () => {
  let caught: unknown;
  try {
    parseNatsConf('a: 1\nb: "unterminated\n', 'x.conf');
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof BrokerConfigFileError);
  assert.match(caught.message, /^x\.conf:\d+: parse error: Unexpected EOF/);
  assert.throws(() => parseNatsConf('a: 1 b\n', 'y.conf'), /^BrokerConfigFileError: y\.conf:1: /);
});

test('include is refused with a clear error', () => {
  assert.throws(
    () => parseNatsConf('include ./other.conf\n', 'z.conf'),
    /z\.conf:1: .*`include` is not supported/,
  );
});

test('Go durations convert to milliseconds', () => {
  assert.equal(parseGoDuration('2m'), 120_000);
  assert.equal(parseGoDuration('1m30s'), 90_000);
  assert.equal(parseGoDuration('250ms'), 250);
  assert.equal(parseGoDuration('1.5h'), 5_400_000);
  assert.equal(parseGoDuration('10x'), undefined);
  assert.equal(parseGoDuration('10'), undefined);
});

test('a full nats-server config maps onto the broker options', async (t) => {
  const nkey = 'UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4';
  const { options } = await load(
    t,
    `
listen: 127.0.0.1:4333
server_name: srv1
max_payload: 2MB
max_control_line: 8KB
max_connections: 100
max_subs: 10
max_pending: 32MB
ping_interval: "30s"
ping_max: 3
write_deadline: "5s"
authorization {
  timeout: 1.5
  default_permissions: { publish: "pub.>", subscribe: ["a", "b"] }
  users: [
    { user: alice, password: pw, permissions: { publish: { allow: ["x.>"], deny: "x.secret" }, allow_responses: true } }
    { nkey: ${nkey}, permissions: { subscribe: { deny: ["y"] }, allow_responses: { max: 2, expires: "1m" } } }
  ]
}
`,
  );
  assert.deepEqual(await options, {
    host: '127.0.0.1',
    port: 4333,
    serverName: 'srv1',
    maxPayload: 2 * 1024 * 1024,
    maxControlLine: 8192,
    maxConnections: 100,
    maxSubscriptions: 10,
    maxPending: 32 * 1024 * 1024,
    pingInterval: 30_000,
    maxPingsOut: 3,
    writeDeadline: 5000,
    authorization: {
      timeout: 1.5,
      defaultPermissions: { publish: { allow: ['pub.>'] }, subscribe: { allow: ['a', 'b'] } },
      users: [
        {
          user: 'alice',
          password: 'pw',
          permissions: { publish: { allow: ['x.>'], deny: ['x.secret'] }, allowResponses: true },
        },
        {
          nkey,
          permissions: { subscribe: { deny: ['y'] }, allowResponses: { max: 2, expires: 60_000 } },
        },
      ],
    },
  });
});

test('port -1 (nats-server for "any free port") becomes port 0', async (t) => {
  const { options } = await load(t, 'port: -1\n');
  assert.deepEqual(await options, { port: 0 });
});

test('a key used only as a variable is not reported as unknown', async (t) => {
  const { options } = await load(
    t,
    'PERMS = { publish: "x" }\nauthorization { users: [ { user: a, password: b, permissions: $PERMS } ] }',
  );
  assert.deepEqual((await options).authorization?.users?.[0]?.permissions, {
    publish: { allow: ['x'] },
  });
});

test('an unknown key is an error naming the key, the file and the line', async (t) => {
  const { file, options } = await load(t, 'port: 4222\n\nbogus_key: 1\n');
  const err = await rejectsWith(options, /unknown configuration key `bogus_key`/);
  assert.equal(err.file, file);
  assert.equal(err.line, 3);
  assert.ok(err.message.startsWith(`${file}:3: `));
});

test('an unknown key nested in a user is an error with its path', async (t) => {
  const { options } = await load(
    t,
    'authorization {\n users: [\n  { user: a, password: b, colour: red }\n ]\n}\n',
  );
  const err = await rejectsWith(
    options,
    /unknown configuration key `authorization\.users\[0\]\.colour`/,
  );
  assert.equal(err.line, 3);
});

test('a nats-server option the embedded broker lacks is refused by name', async (t) => {
  const { options } = await load(t, 'jetstream { store_dir: /tmp/x }\n');
  await rejectsWith(options, /`jetstream` is a nats-server option .* does not support/);
});

test('debug and trace are booleans; a non-boolean is refused', async (t) => {
  const options = await (await load(t, 'debug: false\ntrace: true\n')).options;
  assert.equal(options.debug, false);
  assert.equal(options.trace, true);
  await rejectsWith((await load(t, 'trace: "loud"\n')).options, /Expected `trace` to be a boolean/);
});

test('a wrongly typed value says what was expected and what was found', async (t) => {
  const { options } = await load(t, 'max_payload: "big"\n');
  await rejectsWith(
    options,
    /Expected `max_payload` to be an integer of at least 1, got "big" \(string\)/,
  );
});

test('an unquoted duration number is refused because nats-server would read it as seconds', async (t) => {
  const { options } = await load(t, 'ping_interval: 2m\n');
  await rejectsWith(options, /quoted duration/);
});

test('users and a single user cannot be combined, as in nats-server', async (t) => {
  const { options } = await load(
    t,
    'authorization { user: a, password: b, users: [ {user: c, password: d} ] }\n',
  );
  await rejectsWith(options, /single user\/pass and a users array/);
});

test('tls reads certificate files relative to the configuration file', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'cert.pem'), 'CERT');
  await writeFile(join(dir, 'key.pem'), 'KEY');
  await writeFile(join(dir, 'ca.pem'), 'CA');
  const file = join(dir, 'tls.conf');
  await writeFile(
    file,
    'tls {\n cert_file: "./cert.pem"\n key_file: key.pem\n ca_file: ca.pem\n verify: true\n timeout: 3\n}\n',
  );
  assert.deepEqual(await loadBrokerConfigFile(file), {
    tls: { cert: 'CERT', key: 'KEY', ca: 'CA', verify: true, timeout: 3 },
  });
});

test('a missing tls file is an error naming the key and the path', async (t) => {
  const { options } = await load(t, 'tls { cert_file: nope.pem, key_file: nope-key.pem }\n');
  await rejectsWith(options, /cannot read `tls\.cert_file` .*nope\.pem/);
});

test('json and yaml files in nats-server shape give the same options', async (t) => {
  const expected = {
    port: 4333,
    maxPayload: 1024,
    authorization: { token: 's3cret' },
  };
  const json = await load(
    t,
    JSON.stringify({ port: 4333, max_payload: 1024, authorization: { token: 's3cret' } }),
    'b.json',
  );
  assert.deepEqual(await json.options, expected);
  const yaml = await load(
    t,
    'port: 4333\nmax_payload: 1024\nauthorization:\n  token: s3cret\n',
    'b.yaml',
  );
  assert.deepEqual(await yaml.options, expected);
  const bad = await load(t, 'port: 4333\nwhat: 1\n', 'c.yml');
  await rejectsWith(bad.options, /unknown configuration key `what`/);
});

test('a file that cannot be read is a BrokerConfigFileError with the cause', async () => {
  const err = await rejectsWith(loadBrokerConfigFile('/nonexistent/admiral.conf'), /cannot read/);
  assert.ok(err.cause instanceof Error);
});

test('configs accepted here are accepted by nats-server -t, and the same typos are refused', async (t) => {
  const bin = requireNatsServer(t);
  if (bin === undefined) return;
  const dir = await tempDir(t);
  const good = `listen: 127.0.0.1:4333
max_payload: 2MB
write_deadline: 10s
ping_interval: "2m"
authorization {
  timeout: 0.5
  users: [ { user: a, password: b, permissions: { publish: { deny: ["x"] }, allow_responses: { max: 2, expires: "1m" } } } ]
}
`;
  const bad = 'port: 4222\nbogus_key: 1\n';
  for (const [text, ok] of [
    [good, true],
    [bad, false],
  ] as const) {
    const file = join(dir, `c${ok ? 'good' : 'bad'}.conf`);
    await writeFile(file, text);
    const r: SpawnSyncReturns<string> = spawnSync(bin, ['-c', file, '-t'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(r.status === 0, ok, `nats-server -t: ${r.stderr}${r.stdout}`);
    const ours = loadBrokerConfigFile(file);
    if (ok) await ours;
    else await rejectsWith(ours, /bogus_key/);
  }
});
