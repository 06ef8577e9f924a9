// The trust boundary's cost per message: NodeKeys.admit (the signer must be the key known for the
// message's fromNode) beside the reference, the ed25519 verify every received message already
// costs. Prints both and their ratio (admit / verify): what the check adds to a message's work.
//   node dist/bench/trust/main.js [--nodes 10000] [--rounds 20]
import Database from 'better-sqlite3';
import { NodeKeys } from '../../src/node/node-keys.js';
import {
  generateIdentity,
  isValidSignature,
  type Message,
  signMessage,
} from '../../src/protocol/index.js';
import { migrate } from '../../src/store/migrate.js';
import { MIGRATIONS } from '../../src/store/schema.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
}

const nodes = arg('--nodes', 10_000);
const rounds = arg('--rounds', 20);
const db = new Database(':memory:');
migrate(db, MIGRATIONS, ':memory:');
const keys = new NodeKeys(db, {
  self: { name: 'central', publicKey: generateIdentity().publicKey },
});
const identities = Array.from({ length: Math.min(nodes, 1000) }, () => generateIdentity());
const keyOf = (i: number): string =>
  (identities[i % identities.length] as (typeof identities)[0]).publicKey;

const usPer = (start: bigint, n: number): number =>
  Number(process.hrtime.bigint() - start) / 1e3 / n;

let t = process.hrtime.bigint();
for (let i = 0; i < nodes; i++) keys.admit(`n${i}`, keyOf(i));
keys.flush();
const pin = usPer(t, nodes);

t = process.hrtime.bigint();
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < nodes; i++) {
    if (keys.admit(`n${i}`, keyOf(i)) !== undefined) throw new Error(`n${i} refused`);
  }
}
const admit = usPer(t, nodes * rounds);

const now = Date.now();
const msg: Message = {
  id: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  fromNode: 'n1',
  toNode: 'central',
  method: 'REQNone',
  data: [''],
  createdAt: now,
  expiresAt: now + 60_000,
};
const envelope = signMessage(msg, identities[0] as (typeof identities)[0]);
const verifies = 2000;
t = process.hrtime.bigint();
for (let i = 0; i < verifies; i++) isValidSignature(envelope.msg, envelope.sig, envelope.signer);
const verify = usPer(t, verifies);

console.log(`first contact (pin, written in one transaction): ${pin.toFixed(2)} µs per node`);
console.log(`known-key check per message: ${admit.toFixed(3)} µs`);
console.log(`reference, one signature verify per message: ${verify.toFixed(1)} µs`);
console.log(`ratio check / verify: ${(admit / verify).toFixed(4)}`);
