import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';
import { connect, jwtAuthenticator } from '@nats-io/transport-node';
import { forEachBroker } from './brokers.js';

// Configurations as nats.js's own test harness (nst/src/launcher.ts) writes them, and the v1 JWTs
// of its auth tests: both brokers must load and serve them.

let portsDir = '';
forEachBroker(
  'the configuration the nats.js test harness writes loads, serves, and leaves its ports file',
  async (t, b) => {
    const dir = portsDir;
    t.after(() => rm(dir, { recursive: true, force: true }));
    // nats-server creates the ports file and then writes it: wait (bounded) until it parses.
    let ports: { nats: string[]; monitoring: string[]; websocket: string[] } | undefined;
    for (let i = 0; i < 60 && ports === undefined; i++) {
      const file = (await readdir(dir)).find((f) => f.endsWith('.ports'));
      const text = file === undefined ? '' : await readFile(join(dir, file), 'utf8');
      try {
        ports = JSON.parse(text) as typeof ports;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.ok(ports, `no complete ports file in ${dir} within 3 s`);
    assert.equal(ports.nats[0], `nats://127.0.0.1:${b.port}`);
    assert.equal(ports.websocket.length > 0, true);
    const nc = await connect({ servers: b.url, reconnect: false });
    t.after(() => nc.close());
    await nc.flush();
    const varz = (await (await fetch(`${ports.monitoring[0]}/varz`)).json()) as { tags?: string[] };
    assert.deepEqual(varz.tags, ['id:abc123']);
  },
  {
    config: async () => {
      portsDir = await mkdtemp(join(tmpdir(), 'admiral-harness-'));
      return [
        'host: 127.0.0.1',
        'port: -1',
        'http: 127.0.0.1:-1',
        'leafnodes {',
        '  listen: 127.0.0.1:-1',
        ' }',
        'server_tags [',
        '  id:abc123',
        ' ]',
        'websocket {',
        '  port: -1',
        '  no_tls: true',
        ' }',
        `ports_file_dir: ${portsDir}`,
        '',
      ].join('\n');
    },
  },
);

// v1 JWTs (alg `ed25519`, `type` at the top of the claims), as nsc wrote them before v2.
const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
function v1(issuer: KeyPair, claims: Record<string, unknown>): string {
  const body = b64({ iat: 1544217757, iss: issuer.getPublicKey(), ...claims });
  // v1 signs the claims part alone (jwt/v2 decoder.go), not header.claims as v2 does.
  const sig = Buffer.from(issuer.sign(new TextEncoder().encode(body))).toString('base64url');
  return `${b64({ typ: 'jwt', alg: 'ed25519' })}.${body}.${sig}`;
}
const op = createOperator();
const acc = createAccount();
const user = createUser();
const limits = { subs: -1, conn: -1, imports: -1, exports: -1, data: -1, payload: -1 };
const opJwt = v1(op, { sub: op.getPublicKey(), type: 'operator', nats: {} });
const accJwt = v1(op, { sub: acc.getPublicKey(), type: 'account', nats: { limits } });
const bearer = v1(acc, {
  sub: user.getPublicKey(),
  type: 'user',
  nats: { pub: {}, sub: {}, bearer_token: true },
});

forEachBroker(
  'v1 operator, account and user JWTs authenticate as on nats-server 2.9.10',
  async (t, b) => {
    const nc = await connect({
      servers: b.url,
      reconnect: false,
      authenticator: jwtAuthenticator(bearer),
    });
    t.after(() => nc.close());
    await nc.flush();
  },
  {
    config: `operator: "${opJwt}"\nresolver: MEMORY\nresolver_preload: {\n  ${acc.getPublicKey()}: "${accJwt}"\n}\n`,
  },
);

forEachBroker(
  'the logging switches debug and trace load with the rest of the configuration',
  async (t, b) => {
    const nc = await connect({ servers: b.url, reconnect: false, user: 'a', pass: 'a' });
    t.after(() => nc.close());
    await nc.flush();
    await assert.rejects(connect({ servers: b.url, reconnect: false, user: 'a', pass: 'b' }));
  },
  {
    config:
      'debug: false\ntrace: true\nauthorization {\n  users [ { user: "a", password: "a" } ]\n}\n',
  },
);
