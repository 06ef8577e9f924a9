import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { goDuration } from './duration.js';
import { type BrokerOptionsInput, BrokerOptionsSchema } from './options.js';

// Reads a nats-server configuration file and maps it onto the embedded broker's options, so one
// file configures either broker. The grammar follows nats-server's conf/lex.go and conf/parse.go
// (v2.9): `key: value`, `key = value` or `key value`; `{}` maps; `[]` arrays; quoted and bare
// strings; numbers with size suffixes; booleans (true/false/yes/no/on/off); `#` and `//` comments;
// `$VAR` variables (earlier keys, then the environment); `( … )` blocks. `include` is refused.

/** A configuration file could not be read, parsed or mapped onto the broker's options. */
export class BrokerConfigFileError extends Error {
  readonly code = 'ADMIRAL_BROKER_CONFIG_FILE';
  override readonly name = 'BrokerConfigFileError';
  /** The configuration file, or `<text>` for text parsed without a file. */
  readonly file: string;
  /** 1-based line the problem was found on, when known. */
  readonly line: number | undefined;
  /** The configuration key involved, when there is one (dotted path, e.g. `authorization.users[0]`). */
  readonly key: string | undefined;

  constructor(
    detail: string,
    where: { file: string; line?: number | undefined; key?: string | undefined },
    options?: { cause?: unknown },
  ) {
    const at = where.line === undefined ? where.file : `${where.file}:${where.line}`;
    super(`${at}: ${detail}`, options);
    this.file = where.file;
    this.line = where.line;
    this.key = where.key;
  }
}

/** A value as nats-server's parser produces it. */
export type ConfValue = string | number | boolean | Date | ConfValue[] | ConfMap;
export interface ConfMap {
  [key: string]: ConfValue;
}

interface MapMeta {
  /** Line each key was written on. */
  lines: Map<string, number>;
  /** Line the map itself starts on. */
  start: number;
  /** Keys that a `$variable` referred to: nats-server does not report those as unknown. */
  usedAsVariable: Set<string>;
}

// Side table of source positions, so the returned object stays a plain record.
const mapMeta = new WeakMap<object, MapMeta>();

function metaOf(map: object): MapMeta | undefined {
  return mapMeta.get(map);
}

const SIZE_SUFFIX_CHARS = new Set(['k', 'm', 'g', 't', 'p', 'e']);
const SIZE_POWERS: Record<string, number> = { k: 1, m: 2, g: 3, t: 4, p: 5, e: 6 };

function isSpace(c: string): boolean {
  return c !== '' && /\s/u.test(c);
}
function isBlank(c: string): boolean {
  return c === ' ' || c === '\t';
}
function isNl(c: string): boolean {
  return c === '\n' || c === '\r';
}
function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}
function isKeySep(c: string): boolean {
  return c === '=' || c === ':';
}

/** Where a number's lexeme ends (nats-server: lexNumberOrDateOrStringOrIP). */
function endsNumber(c: string): boolean {
  return isNl(c) || c === '' || c === '}' || c === ';' || c === ',' || isBlank(c) || isDigit(c);
}

class ConfParser {
  private pos = 0;
  private line = 1;
  /** Open maps, innermost last, for variable lookup. */
  private readonly scopes: ConfMap[] = [];

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  parse(): ConfMap {
    const root = this.newMap();
    this.scopes.push(root);
    let wrapped = false;
    for (;;) {
      this.skipSpaceAndComments();
      const c = this.peek();
      if (c === '') break;
      // A whole file may be wrapped in one `{ … }` (nats-server skips a top-level `{`).
      if (c === '{' && !wrapped) {
        wrapped = true;
        this.next();
        continue;
      }
      if (c === '}' && wrapped) {
        wrapped = false;
        this.next();
        continue;
      }
      const keyLine = this.line;
      const key = this.readKey(false);
      const value = this.readKeyedValue(key);
      this.set(root, key, value, keyLine);
      this.endTopValue();
    }
    if (wrapped) this.fail('Unexpected EOF: the `{` that opens the file is never closed.');
    return root;
  }

  private newMap(): ConfMap {
    const map: ConfMap = {};
    mapMeta.set(map, { lines: new Map(), start: this.line, usedAsVariable: new Set() });
    return map;
  }

  private set(map: ConfMap, key: string, value: ConfValue, line: number): void {
    map[key] = value;
    metaOf(map)?.lines.set(key, line);
  }

  private fail(detail: string, line = this.line): never {
    throw new BrokerConfigFileError(`parse error: ${detail}`, { file: this.file, line });
  }

  private peek(offset = 0): string {
    return this.text.charAt(this.pos + offset);
  }

  private next(): string {
    const c = this.text.charAt(this.pos);
    if (c === '') return c;
    this.pos++;
    if (c === '\n') this.line++;
    return c;
  }

  private atCommentStart(): boolean {
    const c = this.peek();
    return c === '#' || (c === '/' && this.peek(1) === '/');
  }

  private skipComment(): void {
    while (this.peek() !== '' && !isNl(this.peek())) this.next();
  }

  /** Skips whitespace (new lines included) and comments. */
  private skipSpaceAndComments(): void {
    for (;;) {
      const c = this.peek();
      if (isSpace(c)) this.next();
      else if (this.atCommentStart()) this.skipComment();
      else return;
    }
  }

  private skipBlanks(): void {
    while (isBlank(this.peek())) this.next();
  }

  /** After a top-level value: blanks, then a comment, new line, EOF, `;`, `,` or `}`. */
  private endTopValue(): void {
    this.skipBlanks();
    const c = this.peek();
    if (this.atCommentStart()) {
      this.skipComment();
      return;
    }
    if (isNl(c) || c === '' || c === ';' || c === ',') {
      this.next();
      return;
    }
    if (c === '}') return;
    this.fail(
      `Expected a top-level value to end with a new line, comment or EOF, but got '${c}' instead.`,
    );
  }

  private readKey(inMap: boolean): string {
    const c = this.peek();
    if (isKeySep(c)) this.fail(`Unexpected key separator '${c}'.`);
    if (c === ']' && inMap) this.fail(`Unexpected array end ']' processing map.`);
    if (c === '"' || c === "'") {
      this.next();
      const start = this.pos;
      while (this.peek() !== c) {
        if (this.peek() === '') this.fail('Unexpected EOF processing quoted key.');
        this.next();
      }
      const key = this.text.slice(start, this.pos);
      this.next();
      return key;
    }
    const start = this.pos;
    while (!isSpace(this.peek()) && !isKeySep(this.peek())) {
      if (this.peek() === '') {
        if (inMap) this.fail('Unexpected EOF processing map key.');
        break;
      }
      this.next();
    }
    const key = this.text.slice(start, this.pos);
    if (key.toLowerCase() === 'include' && isSpace(this.peek())) {
      this.fail(
        '`include` is not supported by admiral: put the included settings in this file instead.',
      );
    }
    return key;
  }

  /** The separator (`=`, `:` or whitespace) and the value after a key. */
  private readKeyedValue(key: string): ConfValue {
    const keyLine = this.line;
    while (isSpace(this.peek())) this.next();
    if (isKeySep(this.peek())) this.next();
    this.skipBlanks();
    const c = this.peek();
    if (c === '' || isNl(c))
      this.fail(`Expected a value for \`${key}\` but found the end of line.`, keyLine);
    return this.readValue();
  }

  private readValue(): ConfValue {
    this.skipBlanks();
    const c = this.peek();
    if (isNl(c)) this.fail('Expected value but found new line');
    if (c === '[') return this.readArray();
    if (c === '{') return this.readMap();
    if (c === "'") return this.readSingleQuoted();
    if (c === '"') return this.readDoubleQuoted();
    if (c === '(') return this.readBlock();
    if (c === '-') return this.readNegativeNumber();
    if (isDigit(c)) return this.readNumberOrString();
    if (c === '.') this.fail('Floats must start with a digit');
    return this.readBareString(this.pos, []);
  }

  private readArray(): ConfValue[] {
    this.next();
    const out: ConfValue[] = [];
    for (;;) {
      this.skipSpaceAndComments();
      const c = this.peek();
      if (c === ']') {
        this.next();
        return out;
      }
      if (c === ',') this.fail("Unexpected array value terminator ','.");
      if (c === '') this.fail('Unexpected EOF processing array.');
      out.push(this.readValue());
      // Between values: blanks and comments, then `,` or a new line, or `]`.
      for (;;) {
        this.skipBlanks();
        if (this.atCommentStart()) {
          this.skipComment();
          continue;
        }
        const d = this.peek();
        if (d === ',' || isNl(d)) {
          this.next();
          break;
        }
        if (d === ']') break;
        this.fail(
          `Expected an array value terminator ',' or an array terminator ']', but got '${d || 'EOF'}' instead.`,
        );
      }
    }
  }

  private readMap(): ConfMap {
    this.next();
    const map = this.newMap();
    this.scopes.push(map);
    for (;;) {
      this.skipSpaceAndComments();
      const c = this.peek();
      if (c === '}') {
        this.next();
        this.scopes.pop();
        return map;
      }
      if (c === '') this.fail('Unexpected EOF processing map.');
      const keyLine = this.line;
      const key = this.readKey(true);
      while (isSpace(this.peek())) this.next();
      if (isKeySep(this.peek())) this.next();
      this.skipSpaceAndComments();
      const v = this.peek();
      if (v === ',') this.fail("Unexpected map value terminator ','.");
      if (v === '}' || v === '') this.fail(`Expected a value for \`${key}\`.`, keyLine);
      this.set(map, key, this.readValue(), keyLine);
      // Between entries: blanks and comments, then `;`, `,` or a new line, or `}`.
      for (;;) {
        this.skipBlanks();
        if (this.atCommentStart()) {
          this.skipComment();
          continue;
        }
        const d = this.peek();
        if (d === ';' || d === ',' || isNl(d)) {
          this.next();
          break;
        }
        if (d === '}') break;
        this.fail(
          `Expected a map value terminator ',' or a map terminator '}', but got '${d || 'EOF'}' instead.`,
        );
      }
    }
  }

  private readSingleQuoted(): string {
    this.next();
    const start = this.pos;
    while (this.peek() !== "'") {
      if (this.peek() === '') this.fail('Unexpected EOF in a quoted string.');
      this.next();
    }
    const s = this.text.slice(start, this.pos);
    this.next();
    return s;
  }

  private readDoubleQuoted(): string {
    this.next();
    let out = '';
    for (;;) {
      const c = this.next();
      if (c === '') this.fail('Unexpected EOF in a quoted string.');
      if (c === '"') return out;
      out += c === '\\' ? this.readEscape() : c;
    }
  }

  /** After a backslash: \t \n \r \" \\ or \xXX, as nats-server allows. */
  private readEscape(): string {
    const c = this.next();
    switch (c) {
      case 't':
        return '\t';
      case 'n':
        return '\n';
      case 'r':
        return '\r';
      case '"':
        return '"';
      case '\\':
        return '\\';
      case 'x': {
        const hex = this.next() + this.next();
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
          this.fail(`Expected two hexadecimal digits after '\\x', but got '${hex}'`);
        }
        return String.fromCharCode(Number.parseInt(hex, 16));
      }
      default:
        return this.fail(
          `Invalid escape character '${c}'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\", \\\\.`,
        );
    }
  }

  /** `( … )`: everything up to a `)` alone on its line. */
  private readBlock(): string {
    this.next();
    const start = this.pos;
    for (;;) {
      const c = this.peek();
      if (c === '') this.fail('Unexpected EOF processing block.');
      if (c === ')' && this.text.charAt(this.pos - 1) === '\n') {
        const after = this.peek(1);
        if (after === '\n' || after === '') {
          const s = this.text.slice(start, this.pos);
          this.next();
          return s;
        }
      }
      this.next();
    }
  }

  /**
   * A bare string from `start` (the lexer may have read part of it as a number first). Ends at a new
   * line, EOF, `;`, `,`, `]`, `}` or a blank; may hold escapes; may be a boolean or a `$variable`.
   */
  private readBareString(start: number, parts: string[]): ConfValue {
    let from = start;
    for (;;) {
      const c = this.peek();
      if (c === '\\') {
        parts.push(this.text.slice(from, this.pos));
        this.next();
        parts.push(this.readEscape());
        from = this.pos;
        continue;
      }
      if (isNl(c) || c === '' || c === ';' || c === ',' || c === ']' || c === '}' || isBlank(c)) {
        break;
      }
      if (c === "'") {
        // nats-server ends a bare string at a single quote and drops the quote.
        const s = parts.join('') + this.text.slice(from, this.pos);
        this.next();
        return s;
      }
      this.next();
    }
    const raw = this.text.slice(from, this.pos);
    if (parts.length > 0) return parts.join('') + raw;
    const lower = raw.toLowerCase();
    if (lower === 'true' || lower === 'yes' || lower === 'on') return true;
    if (lower === 'false' || lower === 'no' || lower === 'off') return false;
    if (raw.startsWith('$')) return this.lookupVariable(raw.slice(1));
    return raw;
  }

  private lookupVariable(name: string): ConfValue {
    // A bcrypt hash (`$2a$…`) is a value, not a variable.
    if (name.startsWith('2a$')) return `$${name}`;
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const scope = this.scopes[i]!;
      if (Object.hasOwn(scope, name)) {
        metaOf(scope)?.usedAsVariable.add(name);
        return scope[name]!;
      }
    }
    const fromEnv = this.env[name];
    if (fromEnv !== undefined) {
      const parsed = new ConfParser(`pk=${fromEnv}`, `environment variable ${name}`, {}).parse();
      if (parsed['pk'] !== undefined) return parsed['pk'];
    }
    return this.fail(`Variable reference for '${name}' on line ${this.line} can not be found.`);
  }

  private readNegativeNumber(): ConfValue {
    const start = this.pos;
    this.next();
    if (!isDigit(this.peek())) this.fail(`Expected a digit but got '${this.peek()}'.`);
    while (isDigit(this.peek())) this.next();
    const c = this.peek();
    if (c === '.') return this.readFloat(start);
    if (SIZE_SUFFIX_CHARS.has(c.toLowerCase())) {
      this.readSuffixLetters();
      return this.sizedInteger(this.text.slice(start, this.pos));
    }
    return this.sizedInteger(this.text.slice(start, this.pos));
  }

  /** A value starting with a digit: integer, sized integer, float, date, IP address or string. */
  private readNumberOrString(): ConfValue {
    const start = this.pos;
    while (isDigit(this.peek())) this.next();
    const c = this.peek();
    if (c === '-') {
      if (this.pos - start !== 4) this.fail('All ISO8601 dates must be in full Zulu form.');
      return this.readDate(start);
    }
    if (c === '.') return this.readFloat(start);
    if (SIZE_SUFFIX_CHARS.has(c.toLowerCase())) {
      this.readSuffixLetters();
      if (endsNumber(this.peek())) return this.sizedInteger(this.text.slice(start, this.pos));
      return this.readBareString(start, []);
    }
    if (!endsNumber(c)) return this.readBareString(start, []);
    return this.sizedInteger(this.text.slice(start, this.pos));
  }

  private readSuffixLetters(): void {
    this.next();
    while (/^[bBiI]$/.test(this.peek())) this.next();
  }

  private sizedInteger(lexeme: string): number {
    const m = /^(-?\d+)(.*)$/.exec(lexeme)!;
    const base = Number.parseInt(m[1]!, 10);
    const suffix = m[2]!.toLowerCase();
    let value = base;
    if (suffix !== '') {
      const unit = /^([kmgtpe])(b|i|ib)?$/.exec(suffix);
      if (!unit) return this.fail(`Invalid size suffix in '${lexeme}'.`);
      // As in nats-server: `k` is 1000, `kb`/`ki`/`kib` are 1024.
      const radix = unit[2] === undefined ? 1000 : 1024;
      value = base * radix ** SIZE_POWERS[unit[1]!]!;
    }
    if (!Number.isSafeInteger(value)) this.fail(`Integer '${lexeme}' is out of the range.`);
    return value;
  }

  private readFloat(start: number): ConfValue {
    this.next();
    if (!isDigit(this.peek())) {
      this.fail(`Floats must have a digit after the '.', but got '${this.peek()}' instead.`);
    }
    while (isDigit(this.peek())) this.next();
    if (this.peek() === '.') {
      // Not a float after all: an IP address such as 127.0.0.1:4222.
      while (/^[0-9.:-]$/.test(this.peek())) this.next();
      return this.text.slice(start, this.pos);
    }
    return Number.parseFloat(this.text.slice(start, this.pos));
  }

  private readDate(start: number): Date {
    const lexeme = this.text.slice(start, start + 20);
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(lexeme)) {
      this.fail(`Expected a Zulu ISO8601 datetime (2006-01-02T15:04:05Z), got '${lexeme}'.`);
    }
    while (this.pos < start + 20) this.next();
    return new Date(lexeme);
  }
}

/**
 * Parses nats-server configuration text into the same tree nats-server's parser builds: maps,
 * arrays, strings, numbers (size suffixes applied), booleans and dates. Variables are resolved.
 */
export function parseNatsConf(
  text: string,
  file = '<text>',
  env: NodeJS.ProcessEnv = process.env,
): Record<string, unknown> {
  return new ConfParser(text, file, env).parse();
}

// ---------------------------------------------------------------------------------------------
// Mapping the parsed tree onto BrokerOptionsInput (nats-server's server/opts.go key names).

/** nats-server options that exist but that the embedded broker does not implement. */
const UNSUPPORTED_TOP_LEVEL = new Set([
  'accounts',
  'client_advertise',
  'cluster',
  'connect_error_reports',
  'gateway',
  'jetstream',
  'log_file',
  'logfile_size_limit',
  'logtime',
  'max_traced_msg_len',
  'mqtt',
  'no_auth_user',
  'no_header_support',
  'pid_file',
  'reconnect_error_reports',
  'syslog',
  'remote_syslog',
  'trace_verbose',
  'authentication',
  'max_closed_clients',
  'disable_sublist_cache',
  'no_sys_acc',
  'lame_duck',
  'default_js_domain',
]);

const UNSUPPORTED_TLS = new Set([
  'cipher_suites',
  'curve_preferences',
  'insecure',
  'verify_and_map',
  'map_and_verify',
  'verify_cert_and_check_known_urls',
  'pinned_certs',
  'cert_store',
  'cert_match_by',
  'cert_match',
  'handshake_first',
  'ocsp_peer',
  'min_version',
  'connection_rate_limit',
]);

const UNSUPPORTED_USER = new Set(['allowed_connection_types', 'account', 'connection_types']);

type Json = Record<string, unknown>;

class Mapper {
  private readonly reads: Promise<void>[] = [];

  constructor(
    private readonly file: string,
    private readonly dir: string,
  ) {}

  private lineOf(map: object, key?: string): number | undefined {
    const meta = metaOf(map);
    if (!meta) return undefined;
    return key === undefined ? meta.start : (meta.lines.get(key) ?? meta.start);
  }

  fail(detail: string, map?: object, key?: string, path?: string): never {
    throw new BrokerConfigFileError(detail, {
      file: this.file,
      line: map ? this.lineOf(map, key) : undefined,
      key: path,
    });
  }

  private describe(v: unknown): string {
    if (v === null) return 'null';
    if (Array.isArray(v)) return `${JSON.stringify(v)} (array)`;
    if (v instanceof Date) return `${v.toISOString()} (date)`;
    if (typeof v === 'object') return 'a map';
    return `${JSON.stringify(v)} (${typeof v})`;
  }

  private expected(what: string, map: Json, key: string, path: string): never {
    return this.fail(
      `Expected \`${path}\` to be ${what}, got ${this.describe(map[key])}`,
      map,
      key,
      path,
    );
  }

  private asMap(v: unknown): Json | undefined {
    return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date)
      ? (v as Json)
      : undefined;
  }

  private str(map: Json, key: string, path: string): string {
    const v = map[key];
    if (typeof v !== 'string') return this.expected('a string', map, key, path);
    return v;
  }

  private int(map: Json, key: string, path: string, min = 0): number {
    const v = map[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      return this.expected(`an integer of at least ${min}`, map, key, path);
    }
    return v;
  }

  private bool(map: Json, key: string, path: string): boolean {
    const v = map[key];
    if (typeof v !== 'boolean') return this.expected('a boolean', map, key, path);
    return v;
  }

  /** nats-server durations are Go duration strings ("2m", "10s", "1m30s", "250ms"). */
  private durationMs(map: Json, key: string, path: string): number {
    const v = map[key];
    if (typeof v === 'number') {
      // nats-server reads a bare number as seconds, and an unquoted `2m` as the number 2,000,000:
      // too easy to get wrong, so admiral asks for a quoted duration.
      return this.fail(
        `Expected \`${path}\` to be a quoted duration such as "2m" or "10s", got the number ${v} (in nats-server's format an unquoted 2m is the number 2000000)`,
        map,
        key,
        path,
      );
    }
    if (typeof v !== 'string')
      return this.expected('a duration string such as "2m"', map, key, path);
    const ms = parseGoDuration(v);
    if (ms === undefined) {
      return this.expected('a duration string such as "2m", "10s" or "1m30s"', map, key, path);
    }
    return ms;
  }

  /** Seconds, given as a number (int or float) or a duration string. */
  private seconds(map: Json, key: string, path: string): number {
    const v = map[key];
    if (typeof v === 'number' && v > 0) return v;
    if (typeof v === 'string') {
      const ms = parseGoDuration(v);
      if (ms !== undefined && ms > 0) return ms / 1000;
    }
    return this.expected('a positive number of seconds or a duration such as "2s"', map, key, path);
  }

  private unknown(map: Json, key: string, path: string, unsupported: Set<string>): void {
    if (metaOf(map)?.usedAsVariable.has(key)) return;
    if (unsupported.has(key.toLowerCase())) {
      this.fail(
        `\`${path}\` is a nats-server option that admiral's embedded broker does not support; remove it or run nats-server`,
        map,
        key,
        path,
      );
    }
    this.fail(`unknown configuration key \`${path}\``, map, key, path);
  }

  map(root: Json): BrokerOptionsInput {
    const out: BrokerOptionsInput = {};
    for (const key of Object.keys(root)) {
      const k = key.toLowerCase();
      switch (k) {
        case 'listen': {
          const v = root[key];
          if (typeof v === 'number') {
            out.port = this.port(v, root, key);
            break;
          }
          const hp = typeof v === 'string' ? splitHostPort(v) : undefined;
          if (!hp) return this.expected('`host:port` or a port number', root, key, key);
          out.host = hp.host;
          out.port = this.port(hp.port, root, key);
          break;
        }
        case 'host':
        case 'net':
          out.host = this.str(root, key, key);
          break;
        case 'port': {
          const v = root[key];
          if (typeof v !== 'number') return this.expected('a port number', root, key, key);
          out.port = this.port(v, root, key);
          break;
        }
        case 'server_name': {
          const name = this.str(root, key, key);
          if (/\s/.test(name)) this.fail('`server_name` cannot contain spaces', root, key, key);
          out.serverName = name;
          break;
        }
        case 'max_payload':
          out.maxPayload = this.int(root, key, key, 1);
          break;
        case 'max_control_line':
          out.maxControlLine = this.int(root, key, key, 1);
          break;
        case 'max_connections':
        case 'max_conn':
          out.maxConnections = this.int(root, key, key, 1);
          break;
        case 'max_subscriptions':
        case 'max_subs':
          out.maxSubscriptions = this.int(root, key, key, 0);
          break;
        case 'max_pending':
          out.maxPending = this.int(root, key, key, 1);
          break;
        case 'ping_interval':
          out.pingInterval = this.durationMs(root, key, key);
          break;
        case 'ping_max':
          out.maxPingsOut = this.int(root, key, key, 1);
          break;
        case 'write_deadline':
          out.writeDeadline = this.durationMs(root, key, key);
          break;
        case 'http':
        case 'https': {
          // opts.go parseListen: `host:port` or a bare port.
          const v = root[key];
          let port: number | undefined;
          if (typeof v === 'number') {
            port = this.monitorPort(v, root, key);
          } else {
            const hp = typeof v === 'string' ? splitHostPort(v) : undefined;
            if (!hp) return this.expected('`host:port` or a port number', root, key, key);
            out.httpHost = hp.host;
            port = this.monitorPort(hp.port, root, key);
          }
          if (k === 'http') out.httpPort = port;
          else out.httpsPort = port;
          break;
        }
        case 'http_port':
        case 'monitor_port':
          out.httpPort = this.monitorPort(root[key], root, key);
          break;
        case 'https_port':
          out.httpsPort = this.monitorPort(root[key], root, key);
          break;
        case 'lame_duck_duration': {
          const ms = this.durationMs(root, key, key);
          if (ms < 30_000) {
            // opts.go: nats-server's own text.
            this.fail(
              `invalid lame_duck_duration of ${goDuration(ms * 1e6)}, minimum is 30 seconds`,
              root,
              key,
              key,
            );
          }
          out.lameDuckDuration = ms;
          break;
        }
        case 'lame_duck_grace_period': {
          const ms = this.durationMs(root, key, key);
          if (ms < 0)
            this.fail('invalid lame_duck_grace_period, needs to be positive', root, key, key);
          // opts.go setBaselineOptions: 0 means the default.
          if (ms > 0) out.lameDuckGracePeriod = ms;
          break;
        }
        case 'ports_file_dir':
          out.portsFileDir = resolve(this.dir, this.str(root, key, key));
          break;
        case 'websocket':
        case 'ws': {
          const m = this.asMap(root[key]);
          if (!m) return this.expected('a map', root, key, key);
          const ws = this.websocket(m, key);
          if (ws) out.websocket = ws;
          break;
        }
        case 'operator':
        case 'operators':
        case 'roots':
        case 'root':
        case 'root_operators':
        case 'root_operator': {
          const v = root[key];
          const list = typeof v === 'string' ? [v] : v;
          if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
            return this.expected(
              'an operator JWT file (or inline JWT) or a list of them',
              root,
              key,
              key,
            );
          }
          out.operators = [];
          for (const item of list as string[]) this.operatorJwt(item, out.operators, root, key);
          break;
        }
        case 'trusted':
        case 'trusted_keys': {
          const v = root[key];
          const list = typeof v === 'string' ? v.split(/\s+/).filter((x) => x !== '') : v;
          if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
            return this.expected('an operator public key or a list of them', root, key, key);
          }
          out.trustedKeys = list as string[];
          break;
        }
        case 'resolver':
        case 'account_resolver':
        case 'accounts_resolver': {
          const v = root[key];
          // opts.go: only the memory resolver; URL and full/cache resolvers need nats-server.
          if (typeof v !== 'string' || !/^\s*(MEM|MEMORY)\s*$/i.test(v)) {
            this.fail(
              `\`${key}\` must be MEMORY: the embedded broker has only the memory resolver (accounts in \`resolver_preload\`); for URL or full resolvers run nats-server`,
              root,
              key,
              key,
            );
          }
          break;
        }
        case 'resolver_preload': {
          const m = this.asMap(root[key]);
          if (!m)
            return this.expected('a map of account public key to account JWT', root, key, key);
          const preload: Record<string, string> = {};
          for (const acc of Object.keys(m)) preload[acc] = this.str(m, acc, `${key}.${acc}`);
          out.resolverPreload = preload;
          break;
        }
        case 'system_account':
        case 'system':
          // There is no system account in the embedded broker; the key is accepted so nsc's
          // generated configurations load, and has no effect.
          this.str(root, key, key);
          break;
        case 'server_tags': {
          const v = root[key];
          const list = typeof v === 'string' ? [v] : v;
          if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) {
            return this.expected('a tag or a list of tags', root, key, key);
          }
          out.serverTags = list as string[];
          break;
        }
        case 'leafnodes':
        case 'leaf': {
          // nats.js's test harness writes `leafnodes { listen: "127.0.0.1:-1" }` into every
          // configuration. No leafnode listener is opened; anything beyond the address is refused.
          const m = this.asMap(root[key]);
          if (!m) return this.expected('a map', root, key, key);
          for (const lk of Object.keys(m)) {
            if (!['listen', 'host', 'port'].includes(lk.toLowerCase())) {
              this.fail(
                `\`${key}.${lk}\` is a nats-server option that admiral's embedded broker does not support (it has no leaf nodes); remove it or run nats-server`,
                m,
                lk,
                `${key}.${lk}`,
              );
            }
          }
          break;
        }
        case 'debug':
          out.debug = this.bool(root, key, key);
          break;
        case 'trace':
          out.trace = this.bool(root, key, key);
          break;
        case 'http_base_path':
          out.httpBasePath = this.str(root, key, key);
          break;
        case 'authorization': {
          const m = this.asMap(root[key]);
          if (!m) return this.expected('a map', root, key, key);
          out.authorization = this.authorization(m, key);
          break;
        }
        case 'tls': {
          const m = this.asMap(root[key]);
          if (!m) return this.expected('a map', root, key, key);
          out.tls = this.tls(m, key);
          break;
        }
        case 'allow_non_tls':
          out.allowNonTls = this.bool(root, key, key);
          break;
        default:
          this.unknown(root, key, key, UNSUPPORTED_TOP_LEVEL);
      }
    }
    return out;
  }

  /** A monitoring port: nats-server's 0 means no monitoring, -1 any free port. */
  private monitorPort(v: unknown, map: Json, key: string): number | undefined {
    if (typeof v !== 'number') return this.expected('a port number', map, key, key);
    return v === 0 ? undefined : this.port(v, map, key);
  }

  /** jwt.go readOperatorJWT: a file, or the JWT inline (`eyJ…`); decorated files are read too. */
  private operatorJwt(item: string, into: string[], map: Json, key: string): void {
    const fromText = (text: string): string => {
      const m = /-----BEGIN [^-]*JWT-----\s*([^\s-][^\s]*)/.exec(text);
      return (m ? m[1]! : text).trim();
    };
    if (item.startsWith('eyJ')) {
      into.push(fromText(item));
      return;
    }
    const file = resolve(this.dir, item);
    const slot = into.length;
    into.push('');
    this.reads.push(
      readFile(file, 'utf8').then(
        (text) => {
          into[slot] = fromText(text);
        },
        (err: unknown) =>
          this.fail(
            `error parsing operator JWT: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`,
            map,
            key,
            key,
          ),
      ),
    );
  }

  /** opts.go parseWebsocket; a port of 0 (or none) means no WebSocket listener. */
  private websocket(m: Json, path: string): BrokerOptionsInput['websocket'] {
    const out: Partial<NonNullable<BrokerOptionsInput['websocket']>> = {};
    let port = 0;
    for (const key of Object.keys(m)) {
      const p = `${path}.${key}`;
      switch (key.toLowerCase()) {
        case 'listen': {
          const v = m[key];
          const hp = typeof v === 'string' ? splitHostPort(v) : undefined;
          if (typeof v === 'number') port = v;
          else if (hp) {
            out.host = hp.host;
            port = hp.port;
          } else return this.expected('`host:port` or a port number', m, key, p);
          break;
        }
        case 'port': {
          const v = m[key];
          if (typeof v !== 'number') return this.expected('a port number', m, key, p);
          port = v;
          break;
        }
        case 'host':
        case 'net':
          out.host = this.str(m, key, p);
          break;
        case 'no_tls':
          out.noTls = this.bool(m, key, p);
          break;
        case 'compress':
        case 'compression':
          out.compression = this.bool(m, key, p);
          break;
        case 'handshake_timeout':
          out.handshakeTimeout = this.seconds(m, key, p);
          break;
        case 'same_origin':
          out.sameOrigin = this.bool(m, key, p);
          break;
        case 'allowed_origins':
        case 'allowed_origin':
        case 'allow_origins':
        case 'allow_origin':
        case 'origins':
        case 'origin': {
          const v = m[key];
          const list = typeof v === 'string' ? [v] : v;
          if (
            !Array.isArray(list) ||
            !list.every((o) => typeof o === 'string' && URL.canParse(o))
          ) {
            return this.expected('an origin URL or an array of them', m, key, p);
          }
          out.allowedOrigins = list as string[];
          break;
        }
        default:
          this.unknown(
            m,
            key,
            p,
            new Set([
              'advertise',
              'tls',
              'authorization',
              'authentication',
              'jwt_cookie',
              'no_auth_user',
            ]),
          );
      }
    }
    if (port === 0) return undefined;
    out.port = this.port(port, m, 'port');
    return out as NonNullable<BrokerOptionsInput['websocket']>;
  }

  private port(v: number, map: Json, key: string): number {
    // nats-server's -1 means "pick a free port", which is the embedded broker's 0.
    if (v === -1) return 0;
    if (!Number.isInteger(v) || v < 0 || v > 65535) {
      return this.expected('a port number from 0 to 65535 (or -1)', map, key, key);
    }
    return v;
  }

  private authorization(m: Json, path: string): NonNullable<BrokerOptionsInput['authorization']> {
    const out: NonNullable<BrokerOptionsInput['authorization']> = {};
    for (const key of Object.keys(m)) {
      const p = `${path}.${key}`;
      switch (key.toLowerCase()) {
        case 'user':
        case 'username':
          out.user = this.str(m, key, p);
          break;
        case 'pass':
        case 'password':
          out.password = this.str(m, key, p);
          break;
        case 'token':
          out.token = this.str(m, key, p);
          break;
        case 'timeout':
          out.timeout = this.seconds(m, key, p);
          break;
        case 'users': {
          const list = m[key];
          if (!Array.isArray(list)) return this.expected('an array of users', m, key, p);
          out.users = list.map((u, i) => {
            const um = this.asMap(u);
            if (!um) return this.fail(`Expected \`${p}[${i}]\` to be a map`, m, key, `${p}[${i}]`);
            return this.user(um, `${p}[${i}]`);
          });
          break;
        }
        case 'default_permission':
        case 'default_permissions':
        case 'permissions': {
          const pm = this.asMap(m[key]);
          if (!pm) return this.expected('a map of permissions', m, key, p);
          out.defaultPermissions = this.permissions(pm, p);
          break;
        }
        default:
          this.unknown(m, key, p, new Set(['auth_callout']));
      }
    }
    // The same combinations nats-server refuses (server/opts.go parseAuthorization).
    if (out.users && (out.user !== undefined || out.password !== undefined)) {
      this.fail('Can not have a single user/pass and a users array', m, undefined, path);
    }
    if (out.users && out.token !== undefined) {
      this.fail('Can not have a token and a users array', m, undefined, path);
    }
    if (out.token !== undefined && out.user !== undefined) {
      this.fail('Cannot have a user/pass and token', m, undefined, path);
    }
    return out;
  }

  private user(
    m: Json,
    path: string,
  ): NonNullable<NonNullable<BrokerOptionsInput['authorization']>['users']>[number] {
    const out: NonNullable<NonNullable<BrokerOptionsInput['authorization']>['users']>[number] = {};
    for (const key of Object.keys(m)) {
      const p = `${path}.${key}`;
      switch (key.toLowerCase()) {
        case 'user':
        case 'username':
          out.user = this.str(m, key, p);
          break;
        case 'pass':
        case 'password':
          out.password = this.str(m, key, p);
          break;
        case 'nkey': {
          const nkey = this.str(m, key, p);
          if (!/^U[A-Z2-7]{55}$/.test(nkey)) {
            this.fail(
              `Expected \`${p}\` to be a user nkey (56 characters starting with U)`,
              m,
              key,
              p,
            );
          }
          out.nkey = nkey;
          break;
        }
        case 'permission':
        case 'permissions': {
          const pm = this.asMap(m[key]);
          if (!pm) return this.expected('a map of permissions', m, key, p);
          out.permissions = this.permissions(pm, p);
          break;
        }
        default:
          this.unknown(m, key, p, UNSUPPORTED_USER);
      }
    }
    if ((out.user === undefined) === (out.nkey === undefined)) {
      this.fail(`\`${path}\` needs exactly one of \`user\` or \`nkey\``, m, undefined, path);
    }
    return out;
  }

  private permissions(
    m: Json,
    path: string,
  ): NonNullable<NonNullable<BrokerOptionsInput['authorization']>['defaultPermissions']> {
    const out: NonNullable<NonNullable<BrokerOptionsInput['authorization']>['defaultPermissions']> =
      {};
    for (const key of Object.keys(m)) {
      const p = `${path}.${key}`;
      switch (key.toLowerCase()) {
        case 'pub':
        case 'publish':
        case 'import':
          out.publish = this.subjectPermission(m, key, p);
          break;
        case 'sub':
        case 'subscribe':
        case 'export':
          out.subscribe = this.subjectPermission(m, key, p);
          break;
        case 'allow_responses':
        case 'publish_allow_responses': {
          const v = m[key];
          if (typeof v === 'boolean') {
            out.allowResponses = v;
            break;
          }
          const rm = this.asMap(v);
          if (!rm) return this.expected('a boolean or a map with `max` and `expires`', m, key, p);
          const resp: { max?: number; expires?: number } = {};
          for (const rk of Object.keys(rm)) {
            switch (rk.toLowerCase()) {
              case 'max':
              case 'max_msgs':
              case 'max_messages':
              case 'max_responses':
                resp.max = this.int(rm, rk, `${p}.${rk}`, 0);
                break;
              case 'expires':
              case 'expiration':
              case 'ttl':
                resp.expires = this.durationMs(rm, rk, `${p}.${rk}`);
                break;
              default:
                this.unknown(rm, rk, `${p}.${rk}`, new Set());
            }
          }
          out.allowResponses = resp;
          break;
        }
        default:
          this.unknown(m, key, p, new Set());
      }
    }
    return out;
  }

  /** `"subj"`, `["a", "b"]` (both mean allow) or `{ allow: …, deny: … }`. */
  private subjectPermission(
    m: Json,
    key: string,
    path: string,
  ): { allow?: string[]; deny?: string[] } {
    const v = m[key];
    const pm = this.asMap(v);
    if (!pm) return { allow: this.subjects(m, key, path) };
    const out: { allow?: string[]; deny?: string[] } = {};
    for (const k of Object.keys(pm)) {
      const p = `${path}.${k}`;
      switch (k.toLowerCase()) {
        case 'allow':
          out.allow = this.subjects(pm, k, p);
          break;
        case 'deny':
          out.deny = this.subjects(pm, k, p);
          break;
        default:
          this.unknown(pm, k, p, new Set());
      }
    }
    return out;
  }

  private subjects(m: Json, key: string, path: string): string[] {
    const v = m[key];
    if (typeof v === 'string' && v !== '') return [v];
    if (Array.isArray(v) && v.every((s) => typeof s === 'string' && s !== '')) return v as string[];
    return this.expected('a subject or an array of subjects', m, key, path);
  }

  // Relative paths resolve against the config file's folder. nats-server 2.9 resolves them against
  // its working directory instead; the two agree when nats-server runs in the config's folder.
  private tls(m: Json, path: string): NonNullable<BrokerOptionsInput['tls']> {
    const out: Partial<NonNullable<BrokerOptionsInput['tls']>> = {};
    const readInto = (key: string, field: 'cert' | 'key' | 'ca'): void => {
      const p = `${path}.${key}`;
      const file = resolve(this.dir, this.str(m, key, p));
      this.reads.push(
        readFile(file, 'utf8').then(
          (text) => {
            out[field] = text;
          },
          (err: unknown) =>
            this.fail(
              `cannot read \`${p}\` ${file}: ${err instanceof Error ? err.message : String(err)}`,
              m,
              key,
              p,
            ),
        ),
      );
    };
    for (const key of Object.keys(m)) {
      const p = `${path}.${key}`;
      switch (key.toLowerCase()) {
        case 'cert_file':
          readInto(key, 'cert');
          break;
        case 'key_file':
          readInto(key, 'key');
          break;
        case 'ca_file':
          readInto(key, 'ca');
          break;
        case 'verify':
          out.verify = this.bool(m, key, p);
          break;
        case 'timeout':
          out.timeout = this.seconds(m, key, p);
          break;
        default:
          this.unknown(m, key, p, UNSUPPORTED_TLS);
      }
    }
    const keys = Object.keys(m).map((k) => k.toLowerCase());
    if (!keys.includes('cert_file') || !keys.includes('key_file')) {
      this.fail('`tls` needs both `cert_file` and `key_file`', m, undefined, path);
    }
    return out as NonNullable<BrokerOptionsInput['tls']>;
  }

  /** Waits for the files `tls` names; fails with the first that cannot be read. */
  async settle(): Promise<void> {
    const results = await Promise.allSettled(this.reads);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }
}

/** Go's time.ParseDuration, in milliseconds: "300ms", "1.5h", "2h45m"; undefined if malformed. */
export function parseGoDuration(text: string): number | undefined {
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    μs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') return undefined;
  let total = 0;
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/u;
  while (s !== '') {
    const m = re.exec(s);
    if (!m) return undefined;
    total += Number.parseFloat(m[1]!) * units[m[2]!]!;
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}

function splitHostPort(v: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(-?\d+)$/.exec(v);
  if (!m) return undefined;
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port: Number.parseInt(m[3]!, 10) };
}

/**
 * Maps an already parsed nats-server configuration tree onto the broker's options. `file` is used
 * in error messages and `dir` to resolve relative TLS file paths.
 */
export async function brokerOptionsFromConf(
  conf: Record<string, unknown>,
  file: string,
  dir = process.cwd(),
): Promise<BrokerOptionsInput> {
  const mapper = new Mapper(file, dir);
  const options = mapper.map(conf);
  await mapper.settle();
  const checked = BrokerOptionsSchema.safeParse(options);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new BrokerConfigFileError(
      `invalid broker options at \`${issue.path.join('.') || '(root)'}\`: ${issue.message}`,
      { file },
      { cause: checked.error },
    );
  }
  return options;
}

/**
 * Reads a nats-server configuration file (`.conf` or any other extension in nats-server's format,
 * or `.json` / `.yaml` / `.yml` in the same shape) and returns the embedded broker's options.
 * Unknown keys are errors, never ignored. Throws BrokerConfigFileError.
 */
export async function loadBrokerConfigFile(path: string): Promise<BrokerOptionsInput> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new BrokerConfigFileError(
      `cannot read the broker configuration file: ${err instanceof Error ? err.message : String(err)}`,
      { file: path },
      { cause: err },
    );
  }
  const ext = extname(path).toLowerCase();
  let conf: Record<string, unknown>;
  if (ext === '.json' || ext === '.yaml' || ext === '.yml') {
    let parsed: unknown;
    try {
      parsed = ext === '.json' ? JSON.parse(text) : parseYaml(text);
    } catch (err) {
      const line = lineOfYamlError(err);
      throw new BrokerConfigFileError(
        `parse error: ${err instanceof Error ? err.message : String(err)}`,
        { file: path, line },
        { cause: err },
      );
    }
    if (parsed === null || parsed === undefined) parsed = {};
    if (typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new BrokerConfigFileError('expected the file to hold a map of options at the top', {
        file: path,
      });
    }
    conf = parsed as Record<string, unknown>;
  } else {
    conf = parseNatsConf(text, path);
  }
  return brokerOptionsFromConf(conf, path, dirname(resolve(path)));
}

function lineOfYamlError(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'linePos' in err) {
    const pos = (err as { linePos?: Array<{ line: number }> }).linePos;
    return pos?.[0]?.line;
  }
  return undefined;
}
