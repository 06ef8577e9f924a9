import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as z from 'zod';

// Central's record of join tokens and of the nodes that asked to join, kept in one JSON file
// (`<dataDir>/enrolment.json`, mode 0600) written atomically on every change. Only the central
// process writes it; operators change it through central's `enrolAdmin` service. Tokens are
// stored as SHA-256 hashes: the file never holds a usable token.

export const NODE_STATES = ['pending', 'accepted', 'rejected', 'revoked'] as const;
export type EnrolState = (typeof NODE_STATES)[number];

const tokenSchema = z.strictObject({
  id: z.string(),
  hash: z.string(),
  createdAt: z.number(),
  expiresAt: z.number(),
  revokedAt: z.number().optional(),
  label: z.string().optional(),
  uses: z.number().int().nonnegative(),
});
const nodeSchema = z.strictObject({
  name: z.string(),
  publicKey: z.string(),
  state: z.enum(NODE_STATES),
  requestedAt: z.number(),
  updatedAt: z.number(),
  /** How it was decided: `token <id>`, `operator`. */
  via: z.string().optional(),
  reason: z.string().optional(),
});
const fileSchema = z.strictObject({
  version: z.literal(1),
  tokens: z.array(tokenSchema),
  nodes: z.array(nodeSchema),
});

export type JoinToken = z.output<typeof tokenSchema>;
export type EnrolRecord = z.output<typeof nodeSchema>;

/** A token as listed: never its secret. */
export interface TokenView {
  readonly id: string;
  readonly label?: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly revokedAt?: number;
  readonly uses: number;
  readonly state: 'valid' | 'expired' | 'revoked';
}

/** Why a token does not admit a node, or `ok` with its id. */
export type TokenCheck =
  { readonly ok: true; readonly id: string } | { readonly ok: false; readonly reason: string };

/**
 * One record changed, as shared with other centrals (src/store/jetstream/enrolment.ts): a token or
 * a node by its id or name, its new value, or none when it was dropped.
 */
export type EnrolChange =
  | { readonly kind: 'token'; readonly key: string; readonly value?: JoinToken }
  | { readonly kind: 'node'; readonly key: string; readonly value?: EnrolRecord };

/** Checks a shared record before it is taken in (another central wrote it). */
export const parseToken = (v: unknown): JoinToken => tokenSchema.parse(v);
export const parseNode = (v: unknown): EnrolRecord => nodeSchema.parse(v);

const hashOf = (secret: string): string => createHash('sha256').update(secret).digest('hex');

export class EnrolmentStore {
  readonly #path: string;
  readonly #now: () => number;
  #tokens: JoinToken[] = [];
  #nodes: EnrolRecord[] = [];
  /** Told of every change made here (not of those `apply` takes in). */
  onChange: ((change: EnrolChange) => void) | undefined;

  constructor(path: string, now: () => number = Date.now) {
    this.#path = path;
    this.#now = now;
    let text: string | undefined;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== undefined) {
      const parsed = fileSchema.parse(JSON.parse(text));
      this.#tokens = parsed.tokens;
      this.#nodes = parsed.nodes;
    }
  }

  /** Makes a token valid for `ttlMs`; the returned text (`<id>.<secret>`) is shown once. */
  createToken(ttlMs: number, label?: string): { token: string; view: TokenView } {
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(24).toString('base64url');
    const now = this.#now();
    const rec: JoinToken = {
      id,
      hash: hashOf(secret),
      createdAt: now,
      expiresAt: now + ttlMs,
      uses: 0,
      ...(label !== undefined && { label }),
    };
    this.#tokens.push(rec);
    this.#save();
    this.#changed({ kind: 'token', key: id, value: { ...rec } });
    return { token: `${id}.${secret}`, view: this.#view(rec) };
  }

  listTokens(): TokenView[] {
    return this.#tokens.map((t) => this.#view(t));
  }

  /** Revokes a token by id (or by its full text); false when there is none. */
  revokeToken(idOrToken: string): boolean {
    const id = idOrToken.split('.')[0];
    const rec = this.#tokens.find((t) => t.id === id);
    if (!rec) return false;
    rec.revokedAt ??= this.#now();
    this.#save();
    this.#changed({ kind: 'token', key: rec.id, value: { ...rec } });
    return true;
  }

  /** Checks a token's text: known, secret right, not revoked, not expired. */
  checkToken(text: string): TokenCheck {
    const [id, secret] = text.split('.', 2);
    const rec = this.#tokens.find((t) => t.id === id);
    if (!rec || secret === undefined) return { ok: false, reason: 'unknown join token' };
    const given = Buffer.from(hashOf(secret), 'hex');
    if (!timingSafeEqual(given, Buffer.from(rec.hash, 'hex'))) {
      return { ok: false, reason: 'unknown join token' };
    }
    if (rec.revokedAt !== undefined) return { ok: false, reason: `join token ${id} was revoked` };
    if (this.#now() >= rec.expiresAt) {
      return {
        ok: false,
        reason: `join token ${id} expired at ${new Date(rec.expiresAt).toISOString()}`,
      };
    }
    return { ok: true, id };
  }

  /** Counts a use of a token that admitted a node. */
  used(id: string): void {
    const rec = this.#tokens.find((t) => t.id === id);
    if (rec) {
      rec.uses++;
      this.#save();
      this.#changed({ kind: 'token', key: rec.id, value: { ...rec } });
    }
  }

  node(name: string): EnrolRecord | undefined {
    const r = this.#nodes.find((n) => n.name === name);
    return r && { ...r };
  }

  nodes(state?: EnrolState): EnrolRecord[] {
    return this.#nodes
      .filter((n) => state === undefined || n.state === state)
      .map((n) => ({ ...n }));
  }

  /** Forgets `name`'s record (a pending claim that a valid token or a newer request replaces). */
  drop(name: string): boolean {
    const i = this.#nodes.findIndex((n) => n.name === name);
    if (i < 0) return false;
    this.#nodes.splice(i, 1);
    this.#save();
    this.#changed({ kind: 'node', key: name });
    return true;
  }

  /** Drops pending records last asked for before `before` (Unix ms); returns their names. */
  expirePending(before: number): string[] {
    const stale = this.#nodes.filter((n) => n.state === 'pending' && n.updatedAt < before);
    if (stale.length === 0) return [];
    this.#nodes = this.#nodes.filter((n) => !stale.includes(n));
    this.#save();
    for (const n of stale) this.#changed({ kind: 'node', key: n.name });
    return stale.map((n) => n.name);
  }

  /** Records `name` with `publicKey` in `state` (a new request, or an operator's decision). */
  set(
    name: string,
    publicKey: string,
    state: EnrolState,
    fields: { via?: string; reason?: string } = {},
  ): EnrolRecord {
    const now = this.#now();
    let rec = this.#nodes.find((n) => n.name === name);
    if (!rec) {
      rec = { name, publicKey, state, requestedAt: now, updatedAt: now };
      this.#nodes.push(rec);
    }
    rec.publicKey = publicKey;
    rec.state = state;
    rec.updatedAt = now;
    if (fields.via !== undefined) rec.via = fields.via;
    if (fields.reason !== undefined) rec.reason = fields.reason;
    else delete rec.reason;
    this.#save();
    this.#changed({ kind: 'node', key: name, value: { ...rec } });
    return { ...rec };
  }

  /** Every record, as changes (to seed a shared copy). */
  entries(): EnrolChange[] {
    return [
      ...this.#tokens.map((t): EnrolChange => ({ kind: 'token', key: t.id, value: { ...t } })),
      ...this.#nodes.map((n): EnrolChange => ({ kind: 'node', key: n.name, value: { ...n } })),
    ];
  }

  /**
   * Takes in a change another central made (the shared copy's); returns the record it replaced.
   * `onChange` is not told: the change is not this central's to share.
   */
  apply(change: EnrolChange): JoinToken | EnrolRecord | undefined {
    let old: JoinToken | EnrolRecord | undefined;
    if (change.kind === 'token') {
      old = this.#tokens.find((t) => t.id === change.key);
      this.#tokens = this.#tokens.filter((t) => t.id !== change.key);
      if (change.value !== undefined) this.#tokens.push({ ...change.value, id: change.key });
    } else {
      old = this.#nodes.find((n) => n.name === change.key);
      this.#nodes = this.#nodes.filter((n) => n.name !== change.key);
      if (change.value !== undefined) this.#nodes.push({ ...change.value, name: change.key });
    }
    this.#save();
    return old;
  }

  #changed(change: EnrolChange): void {
    this.onChange?.(change);
  }

  #view(t: JoinToken): TokenView {
    const state =
      t.revokedAt !== undefined ? 'revoked' : this.#now() >= t.expiresAt ? 'expired' : 'valid';
    return {
      id: t.id,
      ...(t.label !== undefined && { label: t.label }),
      createdAt: t.createdAt,
      expiresAt: t.expiresAt,
      ...(t.revokedAt !== undefined && { revokedAt: t.revokedAt }),
      uses: t.uses,
      state,
    };
  }

  #save(): void {
    mkdirSync(dirname(this.#path), { recursive: true, mode: 0o700 });
    const tmp = `${this.#path}.${process.pid}.tmp`;
    const body = { version: 1, tokens: this.#tokens, nodes: this.#nodes };
    writeFileSync(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.#path);
  }
}
