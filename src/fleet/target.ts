import { isValidNodeName } from '../protocol/node-name.js';

// Targets for every fleet command: `--nodes a,b,c`, `--all`, or `--where` filters on facts.
// A filter is `fact OP value`: `=`/`!=` match a glob(3) pattern (amiral's node_facts matching:
// `*`, `?`, `[...]`), `~` a regular expression, and `>`, `>=`, `<`, `<=` compare numbers.
// `fact` is a dotted path into the facts (`memory.total`, `custom.rack`). Several filters are ANDed.

/** Filter operators, longest first (the parser tries them in this order). */
export const FILTER_OPS = ['>=', '<=', '!=', '==', '=', '~', '>', '<'] as const;
export type FilterOp = '=' | '!=' | '~' | '>' | '>=' | '<' | '<=';

/** One parsed `--where` filter. Plain JSON: it travels in messages (see `whereToRecord`). */
export interface Filter {
  /** Dotted path into the facts, e.g. `memory.total`. */
  readonly fact: string;
  readonly op: FilterOp;
  /** The glob, regular expression or number, as written. */
  readonly value: string;
}

/** What a fleet command targets. Several parts narrow each other (`nodes` AND `where`). */
export interface Target {
  /** Explicit node names (`--nodes a,b,c`). */
  readonly nodes?: readonly string[];
  /** Every node in the inventory (`--all`). */
  readonly all?: boolean;
  /** Fact filters, ANDed (`--where`, repeatable). */
  readonly where?: readonly Filter[];
}

/** What `resolveTarget` needs of an inventory entry. */
export interface TargetCandidate {
  readonly node: string;
  readonly facts: Readonly<Record<string, unknown>>;
  readonly online?: boolean;
}

export type Facts = Readonly<Record<string, unknown>>;

/** A `--where` expression that does not parse; `message` shows the expression with a caret. */
export class FilterSyntaxError extends Error {
  override readonly name = 'FilterSyntaxError';
  readonly code = 'ADMIRAL_FILTER_SYNTAX';
  /** The expression as given. */
  readonly expression: string;
  /** 0-based offset of the bad part in `expression`. */
  readonly position: number;
  /** What is wrong, without the caret drawing. */
  readonly reason: string;

  constructor(expression: string, position: number, reason: string, options?: ErrorOptions) {
    super(
      `invalid filter: ${reason}\n  ${expression}\n  ${' '.repeat(Math.max(0, position))}^`,
      options,
    );
    this.expression = expression;
    this.position = position;
    this.reason = reason;
  }
}

/** A target that names nothing, or a `where` record that is not a filter set. */
export class TargetError extends Error {
  override readonly name = 'TargetError';
  readonly code = 'ADMIRAL_TARGET';
}

const NUMERIC_OPS: ReadonlySet<FilterOp> = new Set(['>', '>=', '<', '<=']);
const FACT_SEGMENT = /^[A-Za-z0-9_-]+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * Parses one `--where` expression: `fact=glob`, `fact!=glob`, `fact~regex`, `fact>=number`, …
 * Throws FilterSyntaxError pointing at the bad part.
 */
export function parseWhere(expr: string): Filter {
  let i = 0;
  while (i < expr.length && /[A-Za-z0-9_.-]/.test(expr[i] ?? '')) i++;
  const fact = expr.slice(0, i);
  if (fact === '') {
    throw new FilterSyntaxError(
      expr,
      0,
      expr === ''
        ? 'expected `fact=glob`, `fact~regex` or `fact>=number`, got an empty filter'
        : `expected a fact name (letters, digits, _ - and . for nesting), got ${JSON.stringify(expr[0])}`,
    );
  }
  let offset = 0;
  for (const segment of fact.split('.')) {
    if (!FACT_SEGMENT.test(segment)) {
      throw new FilterSyntaxError(
        expr,
        offset,
        `expected a fact path of dot-separated names, got an empty name in ${JSON.stringify(fact)}`,
      );
    }
    offset += segment.length + 1;
  }
  while (expr[i] === ' ') i++;
  const rest = expr.slice(i);
  const op = FILTER_OPS.find((o) => rest.startsWith(o));
  if (op === undefined) {
    throw new FilterSyntaxError(
      expr,
      i,
      i === expr.length
        ? `expected an operator (=, !=, ~, >, >=, <, <=) and a value after \`${fact}\``
        : `expected an operator (=, !=, ~, >, >=, <, <=) after \`${fact}\`, got ${JSON.stringify(expr[i])}`,
    );
  }
  let valueAt = i + op.length;
  // Spaces around the operator are allowed (`cpus >= 4`); the value is taken as written after them.
  while (expr[valueAt] === ' ') valueAt++;
  const value = expr.slice(valueAt);
  const filter: Filter = { fact, op: op === '==' ? '=' : op, value };
  checkValue(filter, expr, valueAt);
  return filter;
}

function checkValue(filter: Filter, expr: string, at: number): void {
  const { op, value } = filter;
  if (value === '' && op !== '=' && op !== '!=') {
    throw new FilterSyntaxError(expr, at, `expected a value after \`${op}\``);
  }
  if (NUMERIC_OPS.has(op) && !NUMBER.test(value.trim())) {
    throw new FilterSyntaxError(
      expr,
      at,
      `expected a number after \`${op}\`, got ${JSON.stringify(value)}`,
    );
  }
  if (op === '~') {
    try {
      new RegExp(value);
    } catch (err) {
      throw new FilterSyntaxError(
        expr,
        at,
        `expected a regular expression after \`~\`: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  if (op === '=' || op === '!=') {
    const bad = globProblem(value);
    if (bad !== undefined) throw new FilterSyntaxError(expr, at + bad.at, bad.reason);
  }
}

/** Parses several `--where` expressions; the first bad one throws. */
export function parseWheres(exprs: readonly string[]): Filter[] {
  return exprs.map(parseWhere);
}

/** A filter written back as `--where` text. */
export function formatFilter(f: Filter): string {
  return `${f.fact}${f.op}${f.value}`;
}

// --- glob(3) -------------------------------------------------------------------------------

function globProblem(glob: string): { at: number; reason: string } | undefined {
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      const end = classEnd(glob, i);
      if (end < 0)
        return { at: i, reason: 'expected `]` to close the character class opened here' };
      i = end;
    }
  }
  return undefined;
}

/** Index of the `]` that closes the class opened at `open`, or -1. A `]` first in the class is literal. */
function classEnd(glob: string, open: number): number {
  let j = open + 1;
  if (glob[j] === '!' || glob[j] === '^') j++;
  if (glob[j] === ']') j++;
  for (; j < glob.length; j++) {
    if (glob[j] === '\\') j++;
    else if (glob[j] === ']') return j;
  }
  return -1;
}

const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/-]/g;

/** Translates a glob(3) pattern into an anchored RegExp: `*`, `?`, `[abc]`, `[a-z]`, `[!a]`, `\x`. */
export function globToRegExp(glob: string): RegExp {
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] ?? '';
    if (c === '*') src += '[\\s\\S]*';
    else if (c === '?') src += '[\\s\\S]';
    else if (c === '\\' && i + 1 < glob.length) {
      i++;
      src += (glob[i] ?? '').replace(REGEX_SPECIAL, '\\$&');
    } else if (c === '[') {
      const end = classEnd(glob, i);
      if (end < 0) {
        src += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      const inner = body.replace(/\\(.)/g, '$1').replace(/[\\\]^[]/g, '\\$&');
      src += `[${negate ? '^' : ''}${inner}]`;
      i = end;
    } else src += c.replace(REGEX_SPECIAL, '\\$&');
  }
  return new RegExp(`^${src}$`, 's');
}

// --- matching ------------------------------------------------------------------------------

const compiled = new Map<string, RegExp>();

function regexFor(f: Filter): RegExp {
  const key = `${f.op === '~' ? '~' : '='}${f.value}`;
  let re = compiled.get(key);
  if (re === undefined) {
    re = f.op === '~' ? new RegExp(f.value) : globToRegExp(f.value);
    // A bounded cache: filters repeat across thousands of nodes, but not without end.
    if (compiled.size > 1000) compiled.clear();
    compiled.set(key, re);
  }
  return re;
}

/** The value at a dotted path (`memory.total`, `ips.0`), or undefined. */
export function factAt(facts: Facts, path: string): unknown {
  let v: unknown = facts;
  for (const seg of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    if (Array.isArray(v)) {
      if (!/^\d+$/.test(seg)) return undefined;
      v = v[Number(seg)];
    } else {
      if (!Object.hasOwn(v, seg)) return undefined;
      v = (v as Record<string, unknown>)[seg];
    }
  }
  return v;
}

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return undefined;
}

function matchesOne(f: Filter, facts: Facts): boolean {
  const v = factAt(facts, f.fact);
  // A list fact (ips, tags) matches when any of its items does.
  const items = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  switch (f.op) {
    case '=':
    case '!=': {
      const re = regexFor(f);
      const any = items.some((x) => {
        const s = scalarText(x);
        return s !== undefined && re.test(s);
      });
      return f.op === '=' ? any : !any;
    }
    case '~': {
      const re = regexFor(f);
      return items.some((x) => {
        const s = scalarText(x);
        return s !== undefined && re.test(s);
      });
    }
    default: {
      const want = Number(f.value);
      return items.some((x) => {
        const s = scalarText(x);
        if (s === undefined || !NUMBER.test(s.trim())) return false;
        const n = Number(s);
        if (f.op === '>') return n > want;
        if (f.op === '>=') return n >= want;
        if (f.op === '<') return n < want;
        return n <= want;
      });
    }
  }
}

/**
 * Whether `facts` pass every filter (AND). A missing fact passes only `!=`. List facts match when
 * any item matches (`!=`: when none does).
 */
export function matches(filters: readonly Filter[], facts: Facts): boolean {
  for (const f of filters) if (!matchesOne(f, facts)) return false;
  return true;
}

/** Whether a target names anything (`nodes`, `all` or `where`). */
export function isEmptyTarget(target: Target): boolean {
  return target.all !== true && target.nodes === undefined && (target.where?.length ?? 0) === 0;
}

export interface ResolveOptions {
  /** Only nodes the inventory shows online; default false (durable messages wait for the others). */
  readonly onlineOnly?: boolean;
}

/**
 * The node names a target reaches, sorted. `nodes` are taken as given (a node not yet in the
 * inventory can still be sent a durable message) unless `where` also applies, which needs facts;
 * `all` and `where` select from the inventory.
 */
export function resolveTarget(
  target: Target,
  inventory: Iterable<TargetCandidate>,
  options: ResolveOptions = {},
): string[] {
  if (isEmptyTarget(target)) {
    throw new TargetError('Expected a target: --nodes a,b,c, --all or --where FACT=GLOB');
  }
  for (const n of target.nodes ?? []) {
    if (!isValidNodeName(n)) {
      throw new TargetError(
        `Expected node names of 1 to 64 of A-Z a-z 0-9 _ - in --nodes, got ${JSON.stringify(n)}`,
      );
    }
  }
  const where = target.where ?? [];
  const listed = target.nodes === undefined ? undefined : new Set(target.nodes);
  const out = new Set<string>();
  if (listed !== undefined && where.length === 0) {
    if (options.onlineOnly !== true) return [...listed].sort();
    for (const c of inventory) if (listed.has(c.node) && c.online !== false) out.add(c.node);
    return [...out].sort();
  }
  for (const c of inventory) {
    if (listed !== undefined && !listed.has(c.node)) continue;
    if (options.onlineOnly === true && c.online === false) continue;
    if (matches(where, c.facts)) out.add(c.node);
  }
  return [...out].sort();
}

// --- the `where` field of messages -----------------------------------------------------------

/** `where` as it rides in a message: `{fact: glob}` (amiral's node_facts) or `{fact: {op: value}}`. */
export type WhereRecord = Record<string, string | Record<string, string | string[]>>;

/**
 * Filters as a message's `where` object. `fact=glob` becomes `{"fact": "glob"}`, as amiral's
 * `node_facts`; other operators `{"fact": {">=": "4"}}`; repeated operators on one fact a list.
 * An empty object (`--all`) matches every node.
 */
export function whereToRecord(filters: readonly Filter[]): WhereRecord {
  const grouped = new Map<string, Filter[]>();
  for (const f of filters) grouped.set(f.fact, [...(grouped.get(f.fact) ?? []), f]);
  const out: WhereRecord = {};
  for (const [fact, fs] of grouped) {
    const only = fs[0];
    if (fs.length === 1 && only !== undefined && only.op === '=') {
      out[fact] = only.value;
      continue;
    }
    const ops: Record<string, string | string[]> = {};
    for (const f of fs) {
      const prev = ops[f.op];
      ops[f.op] =
        prev === undefined ? f.value : [...(Array.isArray(prev) ? prev : [prev]), f.value];
    }
    out[fact] = ops;
  }
  return out;
}

/** Reads a message's `where` object back into filters; throws TargetError on a bad shape. */
export function whereFromRecord(record: Readonly<Record<string, unknown>>): Filter[] {
  const out: Filter[] = [];
  const add = (fact: string, op: string, value: unknown): void => {
    const text = typeof value === 'number' || typeof value === 'boolean' ? String(value) : value;
    if (typeof text !== 'string') {
      throw new TargetError(
        `Expected \`where.${fact}\` to hold a string or number, got ${JSON.stringify(value)}`,
      );
    }
    const expr = `${fact}${op}${text}`;
    try {
      const f = parseWhere(expr);
      if (f.fact !== fact || f.op !== (op === '==' ? '=' : op)) throw new Error('shape');
      out.push(f);
    } catch (err) {
      throw new TargetError(
        `Expected \`where.${fact}\` to be a valid filter, got ${JSON.stringify(expr)}: ${
          err instanceof FilterSyntaxError ? err.reason : String(err)
        }`,
        { cause: err },
      );
    }
  };
  for (const [fact, spec] of Object.entries(record)) {
    if (spec !== null && typeof spec === 'object' && !Array.isArray(spec)) {
      for (const [op, v] of Object.entries(spec)) {
        if (!(FILTER_OPS as readonly string[]).includes(op)) {
          throw new TargetError(
            `Expected the operators of \`where.${fact}\` to be among ${FILTER_OPS.join(' ')}, got ${JSON.stringify(op)}`,
          );
        }
        for (const item of Array.isArray(v) ? v : [v]) add(fact, op, item);
      }
    } else add(fact, '=', spec);
  }
  return out;
}

/** Whether `facts` match a message's `where` object (what a node runs on a broadcast). */
export function matchesRecord(record: Readonly<Record<string, unknown>>, facts: Facts): boolean {
  return matches(whereFromRecord(record), facts);
}
