import { InvalidSubjectError } from './errors.js';
import { assertNodeName, isValidNodeName } from './node-name.js';

// Subjects (DESIGN.md, "Wire contract"): `<prefix>.node.<node>.<method>` for directed messages,
// `<prefix>.all.<method>` for broadcast (the filter rides in the message) and
// `<prefix>.evt.<node>.<event>` for lifecycle events. Steward used `<node>.<method>.<kind>`
// (seed 003, "Naming"); the fixed prefix keeps admiral's traffic apart on a shared broker.

export const DEFAULT_SUBJECT_PREFIX = 'adm';

// `refused` is central's answer to a node whose events it rejects (its name is held by another
// key): signed by central, naming the refused key, so only the newcomer acts on it.
export const EVENTS = {
  online: 'online',
  offline: 'offline',
  hello: 'hello',
  refused: 'refused',
} as const;
export type EventName = (typeof EVENTS)[keyof typeof EVENTS];

const SUBJECT_KIND = {
  node: 'node',
  all: 'all',
  event: 'evt',
  key: 'key',
  central: 'central',
  job: 'job',
  bulk: 'bulk',
} as const;

/** What happens to a job (`admiral events`, `adm.job.<id>.<event>`). */
export const JOB_EVENTS = { started: 'started', finished: 'finished' } as const;
export type JobEventName = (typeof JOB_EVENTS)[keyof typeof JOB_EVENTS];
const JOB_ID_PATTERN = /^[0-9A-Za-z-]{1,64}$/;

// A prefix is one or more dot-separated tokens of the node-name alphabet: no wildcards, no spaces.
const PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
// Method and event tokens: a letter then letters, digits or `_` (Steward's names are REQXxx).
const TOKEN_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,127}$/;
const eventNames: ReadonlySet<string> = new Set(Object.values(EVENTS));

export type ParsedSubject =
  | { kind: 'node'; node: string; method: string }
  | { kind: 'all'; method: string }
  | { kind: 'event'; node: string; event: EventName };

/** Builds and parses admiral's subjects under one prefix. */
export class Subjects {
  readonly prefix: string;
  private readonly tokens: number;

  constructor(prefix: string = DEFAULT_SUBJECT_PREFIX) {
    if (!PREFIX_PATTERN.test(prefix)) {
      throw new InvalidSubjectError(
        `Expected the subject prefix to be dot-separated tokens of A-Z a-z 0-9 _ -, got ${JSON.stringify(prefix)}`,
        prefix,
      );
    }
    this.prefix = prefix;
    this.tokens = prefix.split('.').length;
  }

  /** `adm.node.<node>.<method>`: a message directed at one node. */
  node(node: string, method: string): string {
    assertNodeName(node, 'toNode');
    return `${this.prefix}.${SUBJECT_KIND.node}.${node}.${token(method, 'method')}`;
  }

  /** `adm.all.<method>`: a broadcast; every node subscribes, the `where` filter decides. */
  all(method: string): string {
    return `${this.prefix}.${SUBJECT_KIND.all}.${token(method, 'method')}`;
  }

  /** `adm.evt.<node>.<event>`: a lifecycle event published by `node`. */
  event(node: string, event: EventName): string {
    assertNodeName(node, 'node');
    if (!eventNames.has(event)) {
      throw new InvalidSubjectError(
        `Expected event to be one of ${[...eventNames].join(', ')}, got ${JSON.stringify(event)}`,
        event,
      );
    }
    return `${this.prefix}.${SUBJECT_KIND.event}.${node}.${event}`;
  }

  /**
   * `adm.bulk.<node>.<transfer>`: plain request/reply carrying one transfer's bytes to `node`
   * (copy chunks), outside the durable path; the payloads authenticate themselves.
   */
  bulk(node: string, transfer: string): string {
    assertNodeName(node, 'node');
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(transfer)) {
      throw new InvalidSubjectError(
        `Expected a transfer id of 1 to 128 of A-Z a-z 0-9 _ -, got ${JSON.stringify(transfer)}`,
        transfer,
      );
    }
    return `${this.prefix}.${SUBJECT_KIND.bulk}.${node}.${transfer}`;
  }

  /** `adm.key.<node>`: a plain request answered by `node` with its public key (trust on first use). */
  key(node: string): string {
    assertNodeName(node, 'node');
    return `${this.prefix}.${SUBJECT_KIND.key}.${node}`;
  }

  /**
   * `adm.central.<service>`: plain request/reply services of the central node (ping echo, service
   * registry, extensions, jobs, inventory). Requests carry their own authorization (access keys,
   * signatures); the broker connection's credentials are the first gate.
   */
  central(service: string): string {
    return `${this.prefix}.${SUBJECT_KIND.central}.${token(service, 'service')}`;
  }

  /** `adm.job.<id>.<event>`: a job started or finished (published by central). */
  jobEvent(id: string, event: JobEventName): string {
    if (!JOB_ID_PATTERN.test(id)) {
      throw new InvalidSubjectError(`Expected a job id, got ${JSON.stringify(id)}`, id);
    }
    if (!Object.hasOwn(JOB_EVENTS, event)) {
      throw new InvalidSubjectError(
        `Expected job event to be one of ${Object.keys(JOB_EVENTS).join(', ')}, got ${JSON.stringify(event)}`,
        event,
      );
    }
    return `${this.prefix}.${SUBJECT_KIND.job}.${id}.${event}`;
  }

  /** Events of every job: `adm.job.*.*`. */
  jobEventSubscription(): string {
    return `${this.prefix}.${SUBJECT_KIND.job}.*.*`;
  }

  /** What a node subscribes to for messages directed at it: `adm.node.<node>.*`. */
  nodeSubscription(node: string): string {
    assertNodeName(node, 'node');
    return `${this.prefix}.${SUBJECT_KIND.node}.${node}.*`;
  }

  /** What every node subscribes to for broadcasts: `adm.all.*`. */
  broadcastSubscription(): string {
    return `${this.prefix}.${SUBJECT_KIND.all}.*`;
  }

  /** Events of one node or (default) all nodes, of one kind or (default) all kinds. */
  eventSubscription(node?: string, event?: EventName): string {
    if (node !== undefined) assertNodeName(node, 'node');
    if (event !== undefined && !eventNames.has(event)) {
      throw new InvalidSubjectError(`unknown event ${JSON.stringify(event)}`, event);
    }
    return `${this.prefix}.${SUBJECT_KIND.event}.${node ?? '*'}.${event ?? '*'}`;
  }

  /** The parts of one of admiral's subjects, or `undefined` when it is not one. */
  parse(subject: string): ParsedSubject | undefined {
    if (!subject.startsWith(`${this.prefix}.`)) return undefined;
    const parts = subject.split('.').slice(this.tokens);
    const [kind, a, b] = parts;
    if (kind === SUBJECT_KIND.all && parts.length === 2 && isToken(a)) {
      return { kind: 'all', method: a };
    }
    if (parts.length !== 3 || !isValidNodeName(a)) return undefined;
    if (kind === SUBJECT_KIND.node && isToken(b)) return { kind: 'node', node: a, method: b };
    if (kind === SUBJECT_KIND.event && b !== undefined && eventNames.has(b)) {
      return { kind: 'event', node: a, event: b as EventName };
    }
    return undefined;
  }
}

function isToken(value: string | undefined): value is string {
  return value !== undefined && TOKEN_PATTERN.test(value);
}

function token(value: string, field: string): string {
  if (!isToken(value)) {
    throw new InvalidSubjectError(
      `Expected \`${field}\` to be a subject token (a letter, then letters, digits or _), got ${JSON.stringify(value)}`,
      value,
    );
  }
  return value;
}
