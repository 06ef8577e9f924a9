// Publish and subscribe permissions of an authenticated user, checked as nats-server's
// client.go does (pubAllowedFullCheck, canSubscribe, checkDenySub) with allow_responses.

import { BrokerConfigError } from './errors.js';
import type { Permissions } from './options.js';
import { isValidSubject, subjectHasWildcard, subjectsIntersect } from './subject.js';
import { Sublist, type SublistEntry } from './sublist.js';

type Rule = SublistEntry;

/** nats-server replyPermLimit: beyond this many tracked replies, old ones are pruned. */
const REPLY_TRACK_LIMIT = 4096;
/** Bound on the per-user cache of publish decisions. */
const PUB_CACHE_MAX = 4096;

function compile(list: readonly string[], withQueues: boolean, where: string): Sublist<Rule> {
  const sl = new Sublist<Rule>();
  for (const raw of list) {
    // Subscribe rules may name a queue group: "subject queue" (auth.go queueSubsFromPermissions).
    const parts = raw.trim().split(/[ \t]+/);
    const ok = parts.length === 1 || (withQueues && parts.length === 2);
    const rule: Rule = { subject: parts[0] ?? '', queue: parts.length === 2 ? parts[1] : '' };
    if (!ok || !sl.insert(rule)) {
      throw new BrokerConfigError(
        `Expected \`${where}\` entries to be valid subjects${withQueues ? ' (optionally followed by a queue name)' : ''}, got ${JSON.stringify(raw)}`,
        where,
      );
    }
  }
  return sl;
}

/** Is `queue` among the queue rules, literally or by a wildcard queue rule (client.go queueMatches). */
function queueMatches(queue: string, qsubs: readonly (readonly Rule[])[]): boolean {
  if (qsubs.length === 0) return true;
  for (const group of qsubs) {
    const name = group[0].queue;
    if (queue === name) return true;
    if (subjectHasWildcard(name) && isValidSubject(queue) && subsetOf(queue, name)) return true;
  }
  return false;
}

/** Is every subject matched by `a` also matched by `b`? (sublist.go subjectIsSubsetMatch) */
function subsetOf(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  for (let i = 0; i < y.length; i++) {
    const t = y[i];
    if (t === '>') return x.length > i;
    if (i >= x.length) return false;
    const s = x[i];
    if (t === '*') {
      if (s === '>') return false;
      continue;
    }
    if (s !== t) return false;
  }
  return x.length === y.length;
}

/** A user's compiled permissions, shared by all of that user's connections. */
export class PermissionSet {
  readonly pubAllow: Sublist<Rule> | null;
  readonly pubDeny: Sublist<Rule> | null;
  readonly subAllow: Sublist<Rule> | null;
  readonly subDeny: Sublist<Rule> | null;
  readonly denyList: readonly string[];
  readonly responses: { max: number; expires: number } | null;
  private readonly pubCache = new Map<string, boolean>();

  constructor(perms: Permissions, where = 'permissions') {
    const resp = perms.allowResponses;
    this.responses =
      resp === undefined || resp === false
        ? null
        : resp === true
          ? { max: 1, expires: 0 }
          : { max: resp.max, expires: resp.expires };
    // auth.go validateResponsePermissions: allow_responses turns off the blanket publish allow.
    let pubAllow = perms.publish?.allow;
    if (this.responses && pubAllow === undefined) pubAllow = [];
    // client.go setPermissions: an empty publish allow list denies all; empty subscribe lists are ignored.
    this.pubAllow = pubAllow ? compile(pubAllow, false, `${where}.publish.allow`) : null;
    const pubDeny = perms.publish?.deny ?? [];
    this.pubDeny = pubDeny.length > 0 ? compile(pubDeny, false, `${where}.publish.deny`) : null;
    const subAllow = perms.subscribe?.allow ?? [];
    this.subAllow =
      subAllow.length > 0 ? compile(subAllow, true, `${where}.subscribe.allow`) : null;
    const subDeny = perms.subscribe?.deny ?? [];
    this.subDeny = subDeny.length > 0 ? compile(subDeny, true, `${where}.subscribe.deny`) : null;
    this.denyList = subDeny.map((s) => s.trim().split(/[ \t]+/)[0]);
  }

  /** Static publish check (allow, then deny), cached per subject. */
  pubAllowed(subject: string): boolean {
    const hit = this.pubCache.get(subject);
    if (hit !== undefined) return hit;
    let allowed = true;
    if (this.pubAllow) allowed = this.pubAllow.match(subject).psubs.length > 0;
    if (allowed && this.pubDeny) allowed = this.pubDeny.match(subject).psubs.length === 0;
    if (this.pubCache.size >= PUB_CACHE_MAX) this.pubCache.clear();
    this.pubCache.set(subject, allowed);
    return allowed;
  }

  /** client.go canSubscribe: allow list (with queue rules), then deny list (with queue rules). */
  canSubscribe(subject: string, queue: string): boolean {
    let allowed = true;
    if (this.subAllow) {
      const r = this.subAllow.match(subject);
      allowed = r.psubs.length > 0;
      if (queue !== '' && r.qsubs.length > 0) allowed = queueMatches(queue, r.qsubs);
    }
    if (allowed && this.subDeny) {
      const r = this.subDeny.match(subject);
      allowed = r.psubs.length === 0;
      if (queue !== '' && r.qsubs.length > 0) allowed = !queueMatches(queue, r.qsubs);
    }
    return allowed;
  }

  /**
   * Does an allowed wildcard subscription overlap a deny rule, so that deliveries to it must be
   * filtered message by message (nats-server's mperms / loadMsgDenyFilter)?
   */
  needsDeliveryFilter(subject: string): boolean {
    if (this.denyList.length === 0 || !subjectHasWildcard(subject)) return false;
    for (const d of this.denyList) if (subjectsIntersect(d, subject)) return true;
    return false;
  }

  /** client.go checkDenySub: a delivered subject that a plain deny rule matches is dropped. */
  deliveryDenied(subject: string): boolean {
    return this.subDeny !== null && this.subDeny.match(subject).psubs.length > 0;
  }
}

interface TrackedReply {
  t: number;
  n: number;
}

/** One connection's view of its user's permissions, with the reply subjects it may answer. */
export class ClientPermissions {
  /** Set once a wildcard subscription overlaps a deny rule; then every delivery is checked. */
  filterDeliveries = false;
  private readonly replies: Map<string, TrackedReply> | null;

  constructor(readonly set: PermissionSet) {
    this.replies = set.responses ? new Map() : null;
  }

  get tracksReplies(): boolean {
    return this.replies !== null;
  }

  /** client.go pubAllowedFullCheck: static rules, else a reply subject this client received. */
  canPublish(subject: string, now: number): boolean {
    if (this.set.pubAllowed(subject)) return true;
    const replies = this.replies;
    const resp = this.set.responses;
    if (!replies || !resp) return false;
    const r = replies.get(subject);
    if (!r) return false;
    r.n++;
    if (resp.max > 0 && r.n > resp.max) {
      replies.delete(subject);
      return false;
    }
    if (resp.expires > 0 && now - r.t > resp.expires) {
      replies.delete(subject);
      return false;
    }
    return true;
  }

  /** Records a reply subject of a message delivered to this client (client.go deliverMsg). */
  trackReply(reply: string, now: number): void {
    const replies = this.replies;
    if (!replies) return;
    replies.set(reply, { t: now, n: 0 });
    if (replies.size > REPLY_TRACK_LIMIT) this.prune(now);
  }

  private prune(now: number): void {
    const replies = this.replies!;
    const resp = this.set.responses!;
    for (const [k, r] of replies) {
      if ((resp.max > 0 && r.n >= resp.max) || (resp.expires > 0 && now - r.t > resp.expires)) {
        replies.delete(k);
      }
    }
    // Still too many: drop the oldest (Map keeps insertion order).
    for (const k of replies.keys()) {
      if (replies.size <= REPLY_TRACK_LIMIT) break;
      replies.delete(k);
    }
  }
}
