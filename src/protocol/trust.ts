import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as z from 'zod';
import { InvalidKeyError, TrustStoreError } from './errors.js';
import { isPublicKey, type TrustLookup } from './signing.js';

// The keys a node accepts signed messages from (nodes trust their central's key; `admiral trust
// add KEY`). The interface is what the receive path needs; a SQLite-backed store can implement it
// elsewhere. Which signer may call which method is policy, decided after this check.

export interface TrustedKey {
  /** nkey public key (`U…`). */
  publicKey: string;
  /** What the operator called it, e.g. the node name. */
  label?: string;
  /** When it was added, Unix ms. */
  addedAt: number;
}

export interface TrustStore extends TrustLookup {
  /** Adds (or relabels) a key. Throws `InvalidKeyError` for anything but an nkey public key. */
  add(publicKey: string, label?: string): void;
  /** Removes a key; false when it was not there. */
  remove(publicKey: string): boolean;
  has(publicKey: string): boolean;
  list(): TrustedKey[];
}

export class MemoryTrustStore implements TrustStore {
  protected readonly keys = new Map<string, TrustedKey>();

  constructor(initial: Iterable<TrustedKey> = []) {
    for (const k of initial) this.keys.set(k.publicKey, { ...k });
  }

  add(publicKey: string, label?: string): void {
    if (!isPublicKey(publicKey)) {
      throw new InvalidKeyError(
        `Expected an nkey public key (U…, 56 characters), got ${JSON.stringify(publicKey)}`,
      );
    }
    const previous = this.keys.get(publicKey);
    this.keys.set(publicKey, {
      publicKey,
      ...(label !== undefined
        ? { label }
        : previous?.label !== undefined
          ? { label: previous.label }
          : {}),
      addedAt: previous?.addedAt ?? Date.now(),
    });
  }

  remove(publicKey: string): boolean {
    return this.keys.delete(publicKey);
  }

  has(publicKey: string): boolean {
    return this.keys.has(publicKey);
  }

  list(): TrustedKey[] {
    return [...this.keys.values()].map((k) => ({ ...k }));
  }
}

const trustFileSchema = z.strictObject({
  version: z.literal(1),
  keys: z.array(
    z.strictObject({
      publicKey: z.string(),
      label: z.string().optional(),
      addedAt: z.int().min(0),
    }),
  ),
});

/**
 * A trust store kept in a JSON file (`{"version":1,"keys":[…]}`), rewritten atomically (mode 0600)
 * on every change. A missing file is an empty store. It is read again when the file changes, so
 * `admiral trust add` reaches a running node; a file made unreadable meanwhile keeps what was read.
 */
export class FileTrustStore extends MemoryTrustStore {
  #seen: string;

  constructor(readonly path: string) {
    super(readTrustFile(path));
    this.#seen = fileSignature(path);
  }

  #refresh(): void {
    const now = fileSignature(this.path);
    if (now === this.#seen) return;
    try {
      const keys = readTrustFile(this.path);
      this.keys.clear();
      for (const k of keys) this.keys.set(k.publicKey, k);
    } catch {
      // Half-edited by hand: keep the keys read before until the file is valid again.
    }
    this.#seen = now;
  }

  override has(publicKey: string): boolean {
    this.#refresh();
    return super.has(publicKey);
  }

  override list(): TrustedKey[] {
    this.#refresh();
    return super.list();
  }

  override add(publicKey: string, label?: string): void {
    this.#refresh();
    super.add(publicKey, label);
    this.save();
  }

  override remove(publicKey: string): boolean {
    this.#refresh();
    const removed = super.remove(publicKey);
    if (removed) this.save();
    return removed;
  }

  private save(): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      writeFileSync(tmp, `${JSON.stringify({ version: 1, keys: this.list() }, null, 2)}\n`, {
        mode: 0o600,
      });
      renameSync(tmp, this.path);
      this.#seen = fileSignature(this.path);
    } catch (error) {
      throw new TrustStoreError(`cannot write trust store ${this.path}`, this.path, {
        cause: error,
      });
    }
  }
}

/** What changes when the file is replaced or edited: inode, size, modification time. */
function fileSignature(path: string): string {
  try {
    const st = statSync(path);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return 'missing';
  }
}

function readTrustFile(path: string): TrustedKey[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new TrustStoreError(`cannot read trust store ${path}`, path, { cause: error });
  }
  let parsed: z.output<typeof trustFileSchema>;
  try {
    parsed = trustFileSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new TrustStoreError(`trust store ${path} is not a valid trust file`, path, {
      cause: error,
    });
  }
  const bad = parsed.keys.find((k) => !isPublicKey(k.publicKey));
  if (bad !== undefined) {
    throw new TrustStoreError(
      `trust store ${path} holds an invalid public key ${JSON.stringify(bad.publicKey)}`,
      path,
    );
  }
  return parsed.keys.map((k) => ({
    publicKey: k.publicKey,
    addedAt: k.addedAt,
    ...(k.label !== undefined ? { label: k.label } : {}),
  }));
}
