import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
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
 * A trust store kept in a JSON file (`{"version":1,"keys":[…]}`), read once when opened and
 * rewritten atomically (mode 0600) on every change. A missing file is an empty store.
 */
export class FileTrustStore extends MemoryTrustStore {
  constructor(readonly path: string) {
    super(readTrustFile(path));
  }

  override add(publicKey: string, label?: string): void {
    super.add(publicKey, label);
    this.save();
  }

  override remove(publicKey: string): boolean {
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
    } catch (error) {
      throw new TrustStoreError(`cannot write trust store ${this.path}`, this.path, {
        cause: error,
      });
    }
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
