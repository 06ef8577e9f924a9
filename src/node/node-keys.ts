import { type NodeKeyRecord, NodeKeyStore } from '../store/node-keys.js';
import type { Database } from 'better-sqlite3';

// Which key may speak for which node name (DESIGN.md, "Security by default"; docs/security.md,
// "Threat model"). A message, reply, event or error line that says it comes from node B is taken
// only when it is signed by the key known for B: this node's own key for itself, its central's
// pinned key for the central, the key central enrolled for B, or else the key B was first seen
// with (pinned on first contact, as SSH's known_hosts). A revoked name speaks for nobody until an
// operator admits a key for it again.

export interface NodeKeysOptions {
  /** This node's name and key. */
  readonly self: { readonly name: string; readonly publicKey: string };
  /** The central's name and its pinned key, when this node has one (trust store). */
  readonly central?: () => { readonly name: string; readonly publicKey: string } | undefined;
  readonly now?: () => number;
}

/** The key known for each node name, in memory in front of the `node_keys` table. */
export class NodeKeys {
  readonly #store: NodeKeyStore;
  readonly #options: NodeKeysOptions;
  readonly #now: () => number;
  readonly #known = new Map<string, NodeKeyRecord>();
  /** First contacts pinned since the last flush. */
  #pinned: NodeKeyRecord[] = [];

  constructor(db: Database, options: NodeKeysOptions) {
    this.#store = new NodeKeyStore(db);
    this.#options = options;
    this.#now = options.now ?? Date.now;
    for (const r of this.#store.list()) this.#known.set(r.node, r);
  }

  /** The key `node` is known by, and how; undefined for a node never seen. */
  expected(node: string): NodeKeyRecord | undefined {
    const { self, central } = this.#options;
    if (node === self.name) {
      return { node, publicKey: self.publicKey, source: 'enrolled', updatedAt: 0 };
    }
    const c = central?.();
    if (c !== undefined && node === c.name) {
      return { node, publicKey: c.publicKey, source: 'enrolled', updatedAt: 0 };
    }
    return this.#known.get(node);
  }

  /**
   * Why `signer` may not speak for `node`, or undefined when it may. A node seen for the first
   * time is pinned to `signer` (written at the next `flush`). A mismatch is checked against the
   * table once more, so a key an operator forgot (`admiral keys forget`) is pinned anew.
   */
  admit(node: string, signer: string): string | undefined {
    let known = this.expected(node);
    if (known !== undefined && known.publicKey !== signer && known.updatedAt !== 0) {
      known = this.#reload(node);
    }
    if (known === undefined) {
      const rec: NodeKeyRecord = {
        node,
        publicKey: signer,
        source: 'pinned',
        updatedAt: this.#now(),
      };
      this.#known.set(node, rec);
      this.#pinned.push(rec);
      return undefined;
    }
    if (known.source === 'revoked') {
      return `node ${node} was revoked on ${new Date(known.updatedAt).toISOString()}; it speaks for nobody until an operator admits a key for it again (admiral nodes accept ${node})`;
    }
    if (known.publicKey === signer) return undefined;
    const how =
      known.source === 'pinned'
        ? `pinned on first contact at ${new Date(known.updatedAt).toISOString()}`
        : 'enrolled';
    return `signed by ${signer}, but ${node}'s key is ${known.publicKey} (${how}); if ${node} was set up again with a new key, on ${this.#options.self.name} run: admiral keys forget ${node}`;
  }

  /** Central admitted `node` with `publicKey` (enrolment). */
  enrol(node: string, publicKey: string): void {
    this.#put({ node, publicKey, source: 'enrolled', updatedAt: this.#now() });
  }

  /** An operator revoked `node`: nothing signed by any key speaks for it from now on. */
  revoke(node: string): void {
    const publicKey = this.#known.get(node)?.publicKey ?? '';
    this.#put({ node, publicKey, source: 'revoked', updatedAt: this.#now() });
  }

  /** Writes the first contacts pinned since the last call, in one transaction. */
  flush(): void {
    if (this.#pinned.length === 0) return;
    const pinned = this.#pinned;
    this.#pinned = [];
    this.#store.putMany(pinned);
  }

  #put(rec: NodeKeyRecord): void {
    this.flush();
    this.#known.set(rec.node, rec);
    this.#store.putMany([rec]);
  }

  #reload(node: string): NodeKeyRecord | undefined {
    this.flush();
    const row = this.#store.get(node);
    if (row === undefined) this.#known.delete(node);
    else this.#known.set(node, row);
    return row;
  }
}
