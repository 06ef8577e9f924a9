// Subject rules, as nats-server's server/sublist.go (IsValidSubject, IsValidLiteralSubject,
// subjectIsSubsetMatch). Tokens are split on '.', '*' matches one token, '>' one or more at the end.

const DOT = 0x2e;
const STAR = 0x2a;
const GT = 0x3e;

function isSpace(c: number): boolean {
  // nats-server rejects these inside tokens: "\t\n\f\r ".
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d;
}

/** A subject valid for SUB: non-empty tokens, no whitespace, '>' only as the last token. */
export function isValidSubject(subject: string): boolean {
  const n = subject.length;
  if (n === 0) return false;
  let tokenStart = 0;
  let sawFwc = false;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? DOT : subject.charCodeAt(i);
    if (c === DOT) {
      const len = i - tokenStart;
      if (len === 0 || sawFwc) return false;
      if (len === 1 && subject.charCodeAt(tokenStart) === GT) sawFwc = true;
      tokenStart = i + 1;
    } else if (isSpace(c)) {
      return false;
    }
  }
  return true;
}

/** A subject valid for PUB in pedantic mode: valid and without wildcard tokens. */
export function isValidLiteralSubject(subject: string): boolean {
  const n = subject.length;
  if (n === 0) return false;
  let tokenStart = 0;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? DOT : subject.charCodeAt(i);
    if (c === DOT) {
      const len = i - tokenStart;
      if (len === 0) return false;
      if (len === 1) {
        const t = subject.charCodeAt(tokenStart);
        if (t === STAR || t === GT) return false;
      }
      tokenStart = i + 1;
    } else if (isSpace(c)) {
      return false;
    }
  }
  return true;
}

/** True when the subject has a '*' or '>' token. */
export function subjectHasWildcard(subject: string): boolean {
  const n = subject.length;
  for (let i = 0; i < n; i++) {
    const c = subject.charCodeAt(i);
    if (
      (c === STAR || c === GT) &&
      (i === 0 || subject.charCodeAt(i - 1) === DOT) &&
      (i + 1 === n || subject.charCodeAt(i + 1) === DOT)
    ) {
      return true;
    }
  }
  return false;
}

/** Does the literal or wildcard `pattern` match the literal `subject`? */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const t = p[i];
    if (t === '>') return s.length > i;
    if (i >= s.length) return false;
    if (t !== '*' && t !== s[i]) return false;
  }
  return p.length === s.length;
}

/**
 * Can some literal subject match both patterns? Used to decide whether a wildcard subscription
 * overlaps a subscribe-deny rule. nats-server (client.go canSubscribe) only checks that the deny
 * rule is a subset of the subscription; an overlap test is stricter and closes the gap where
 * `deny: ["*.secret"]` vs `SUB foo.>` was not filtered.
 */
export function subjectsIntersect(a: string, b: string): boolean {
  const x = a.split('.');
  const y = b.split('.');
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const s = x[i];
    const t = y[i];
    if (s === '>' || t === '>') return true;
    if (s !== '*' && t !== '*' && s !== t) return false;
  }
  if (x.length === y.length) return true;
  // The longer one must be covered by a trailing '>' of the shorter one, handled above.
  return false;
}
