// A subject trie with '*' and '>' wildcards, plain subscriptions and queue groups, and a match
// cache, modelled on nats-server's server/sublist.go. Generic so permission lists reuse it.

import { isValidSubject, subjectMatches } from './subject.js';

/** What the sublist stores: a subject (wildcards allowed) and a queue group ('' for none). */
export interface SublistEntry {
  readonly subject: string;
  readonly queue: string;
}

/** Every plain entry matching a subject, and the queue entries grouped by queue name. */
export interface SublistResult<T extends SublistEntry> {
  readonly psubs: readonly T[];
  readonly qsubs: readonly (readonly T[])[];
}

/** nats-server's SublistStats, with its JSON field names. */
export interface SublistStats {
  num_subscriptions: number;
  num_cache: number;
  num_inserts: number;
  num_removes: number;
  num_matches: number;
  cache_hit_rate: number;
  max_fanout: number;
  avg_fanout: number;
}

class Level<T extends SublistEntry> {
  readonly nodes = new Map<string, Node<T>>();
  pwc: Node<T> | null = null;
  fwc: Node<T> | null = null;

  get size(): number {
    return this.nodes.size + (this.pwc ? 1 : 0) + (this.fwc ? 1 : 0);
  }
}

class Node<T extends SublistEntry> {
  next: Level<T> | null = null;
  readonly psubs = new Set<T>();
  readonly qsubs = new Map<string, Set<T>>();

  get empty(): boolean {
    return this.psubs.size === 0 && this.qsubs.size === 0 && (!this.next || this.next.size === 0);
  }
}

/** nats-server keeps at most 1024 cached results (slCacheMax) and sweeps down to 256. */
const CACHE_MAX = 1024;
const CACHE_SWEEP_TO = 256;

const EMPTY_RESULT: SublistResult<never> = Object.freeze({
  psubs: Object.freeze([]),
  qsubs: Object.freeze([]),
});

export class Sublist<T extends SublistEntry> {
  private readonly root = new Level<T>();
  private readonly cache = new Map<string, SublistResult<T>>();
  private readonly useCache: boolean;
  private entries = 0;
  private inserts = 0;
  private removes = 0;
  private matches = 0;
  private cacheHits = 0;

  constructor(options: { cache?: boolean } = {}) {
    this.useCache = options.cache ?? true;
  }

  /** Number of entries stored. */
  get count(): number {
    return this.entries;
  }

  /** Adds an entry; returns false (and stores nothing) when its subject is invalid. */
  insert(entry: T): boolean {
    const subject = entry.subject;
    if (!isValidSubject(subject)) return false;
    const tokens = subject.split('.');
    let level = this.root;
    let node: Node<T> | null = null;
    for (const t of tokens) {
      if (t === '*') {
        node = level.pwc ??= new Node<T>();
      } else if (t === '>') {
        node = level.fwc ??= new Node<T>();
      } else {
        node = level.nodes.get(t) ?? null;
        if (!node) {
          node = new Node<T>();
          level.nodes.set(t, node);
        }
      }
      level = node.next ??= new Level<T>();
    }
    // node is set: a valid subject has at least one token.
    const n = node!;
    if (entry.queue === '') {
      if (n.psubs.has(entry)) return true;
      n.psubs.add(entry);
    } else {
      let group = n.qsubs.get(entry.queue);
      if (!group) {
        group = new Set<T>();
        n.qsubs.set(entry.queue, group);
      }
      if (group.has(entry)) return true;
      group.add(entry);
    }
    this.entries++;
    this.inserts++;
    this.invalidate(subject);
    return true;
  }

  /** Removes an entry; returns whether it was there. */
  remove(entry: T): boolean {
    const tokens = entry.subject.split('.');
    const path: { level: Level<T>; node: Node<T>; token: string }[] = [];
    let level: Level<T> | null = this.root;
    let node: Node<T> | null = null;
    for (const t of tokens) {
      if (!level) return false;
      node = t === '*' ? level.pwc : t === '>' ? level.fwc : (level.nodes.get(t) ?? null);
      if (!node) return false;
      path.push({ level, node, token: t });
      level = node.next;
    }
    if (!node) return false;
    let removed: boolean;
    if (entry.queue === '') {
      removed = node.psubs.delete(entry);
    } else {
      const group = node.qsubs.get(entry.queue);
      removed = group?.delete(entry) ?? false;
      if (group && group.size === 0) node.qsubs.delete(entry.queue);
    }
    if (!removed) return false;
    this.entries--;
    this.removes++;
    // Prune empty nodes bottom-up so the trie does not grow without bound under churn.
    for (let i = path.length - 1; i >= 0; i--) {
      const p = path[i];
      if (!p.node.empty) break;
      if (p.token === '*') p.level.pwc = null;
      else if (p.token === '>') p.level.fwc = null;
      else p.level.nodes.delete(p.token);
    }
    this.invalidate(entry.subject);
    return true;
  }

  /** Every entry whose subject matches the literal subject. The result must not be mutated. */
  match(subject: string): SublistResult<T> {
    this.matches++;
    if (this.useCache) {
      const hit = this.cache.get(subject);
      if (hit) {
        this.cacheHits++;
        return hit;
      }
    }
    // sublist.go match: a subject with an empty token matches nothing.
    if (this.entries === 0 || hasEmptyToken(subject)) return EMPTY_RESULT;
    const psubs: T[] = [];
    const qsubs: T[][] = [];
    const qindex = new Map<string, number>();
    matchLevel(this.root, subject.split('.'), 0, psubs, qsubs, qindex);
    const result: SublistResult<T> =
      psubs.length === 0 && qsubs.length === 0 ? EMPTY_RESULT : { psubs, qsubs };
    if (this.useCache) {
      this.cache.set(subject, result);
      if (this.cache.size > CACHE_MAX) this.sweep();
    }
    return result;
  }

  /** Does any entry match? */
  hasMatch(subject: string): boolean {
    const r = this.match(subject);
    return r.psubs.length > 0 || r.qsubs.length > 0;
  }

  /** Counters and cache fan-out, as nats-server's sublist.go Stats() computes them for /subsz. */
  stats(): SublistStats {
    let total = 0;
    let max = 0;
    for (const r of this.cache.values()) {
      const n = r.psubs.length + r.qsubs.length;
      total += n;
      if (n > max) max = n;
    }
    return {
      num_subscriptions: this.entries,
      num_cache: this.cache.size,
      num_inserts: this.inserts,
      num_removes: this.removes,
      num_matches: this.matches,
      cache_hit_rate: this.matches > 0 ? this.cacheHits / this.matches : 0,
      max_fanout: max,
      avg_fanout: total > 0 ? total / this.cache.size : 0,
    };
  }

  /** Number of cached results, for tests. */
  get cacheSize(): number {
    return this.cache.size;
  }

  private invalidate(subject: string): void {
    if (this.cache.size === 0) return;
    // A change to a literal subject affects only that key; a wildcard may affect many.
    if (subject.indexOf('*') === -1 && subject.indexOf('>') === -1) {
      this.cache.delete(subject);
      return;
    }
    for (const key of this.cache.keys()) {
      if (subjectMatches(subject, key)) this.cache.delete(key);
    }
  }

  private sweep(): void {
    let drop = this.cache.size - CACHE_SWEEP_TO;
    for (const key of this.cache.keys()) {
      if (drop-- <= 0) break;
      this.cache.delete(key);
    }
  }
}

function matchLevel<T extends SublistEntry>(
  start: Level<T> | null,
  tokens: string[],
  from: number,
  psubs: T[],
  qsubs: T[][],
  qindex: Map<string, number>,
): void {
  // Same walk as nats-server's matchLevel: '>' nodes match the rest, '*' recurses one level down.
  let level = start;
  let node: Node<T> | null = null;
  let pwc: Node<T> | null = null;
  for (let i = from; i < tokens.length; i++) {
    if (!level) return;
    if (level.fwc) addNode(level.fwc, psubs, qsubs, qindex);
    pwc = level.pwc;
    if (pwc) matchLevel(pwc.next, tokens, i + 1, psubs, qsubs, qindex);
    node = level.nodes.get(tokens[i]) ?? null;
    level = node ? node.next : null;
  }
  if (node) addNode(node, psubs, qsubs, qindex);
  if (pwc) addNode(pwc, psubs, qsubs, qindex);
}

function addNode<T extends SublistEntry>(
  node: Node<T>,
  psubs: T[],
  qsubs: T[][],
  qindex: Map<string, number>,
): void {
  for (const s of node.psubs) psubs.push(s);
  // Queue members are grouped by name across every matching node, as nats-server does, so
  // `SUB foo q` and `SUB * q` form one group that gets each message once.
  for (const [name, group] of node.qsubs) {
    let idx = qindex.get(name);
    if (idx === undefined) {
      idx = qsubs.length;
      qindex.set(name, idx);
      qsubs.push([]);
    }
    const list = qsubs[idx];
    for (const s of group) list.push(s);
  }
}

function hasEmptyToken(subject: string): boolean {
  const n = subject.length;
  return (
    n === 0 ||
    subject.charCodeAt(0) === 0x2e ||
    subject.charCodeAt(n - 1) === 0x2e ||
    subject.indexOf('..') !== -1
  );
}
