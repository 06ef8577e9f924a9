import { FilterSyntaxError, parseWhere, type Filter, type Target } from '../fleet/target.js';
import { isMessageId } from '../protocol/index.js';
import type { CommandClass } from './allowlist.js';

// What people say to the bridge in the channel, `admiral: run --where tags=web -- uptime`, read
// into a command. Words split as a shell splits them ('single', "double" quotes, backslash), so
// a filter with spaces can be quoted; nothing is ever handed to a shell.

export type ChatCommand =
  | { readonly name: 'help' }
  | { readonly name: 'ping'; readonly target: Target }
  | { readonly name: 'nodes'; readonly target: Target }
  | { readonly name: 'jobs' }
  | { readonly name: 'job'; readonly id: string }
  | { readonly name: 'cancel'; readonly id: string }
  /** `run [target] -- CMD…` and amiral's `fleet CMD…` (every node). */
  | {
      readonly name: 'run';
      readonly target: Target;
      readonly args: readonly string[];
      /** Seconds the command may run on each node. */
      readonly timeout?: number;
    };

export type ChatCommandName = ChatCommand['name'] | 'fleet';

/** The class each command needs (allowlist.ts); `help` is for everyone. */
export const COMMAND_CLASS: Readonly<Record<ChatCommandName, CommandClass | undefined>> = {
  help: undefined,
  ping: 'read',
  nodes: 'read',
  jobs: 'read',
  job: 'read',
  run: 'run',
  fleet: 'run',
  cancel: 'run',
};

/** One line per command, for `help`. */
export const COMMAND_HELP: readonly string[] = [
  'ping [target]: who answers now (target: node names a,b or a filter fact=glob)',
  'nodes [target]: the inventory, online and offline',
  'jobs: the latest jobs; job ID: one job and its nodes',
  'run [--nodes a,b | --all | --where fact=glob] [--timeout S] -- CMD ARGS: a job through central',
  "fleet CMD ARGS: the command on every node (amiral's form)",
  'cancel ID: cancel a job',
];

/** A line addressed to the bridge that is not a command it knows. */
export class ChatCommandError extends Error {
  override readonly name = 'ChatCommandError';
  readonly code = 'ADMIRAL_CHAT_COMMAND';
}

/** Splits like a POSIX shell does words (no expansion of any kind). */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < text.length && '"\\'.includes(text[i + 1]!)) cur += text[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote !== undefined) throw new ChatCommandError(`unclosed ${quote} quote`);
  if (inWord) words.push(cur);
  return words;
}

/**
 * The text after the bridge's name when the line is addressed to it (`admiral: …`,
 * `admiral, …`), else undefined. `nicks` are the names it answers to.
 */
export function addressedText(line: string, nicks: readonly string[]): string | undefined {
  const m = /^\s*([^\s:,]+)[:,]\s*(.*)$/s.exec(line);
  if (!m) return undefined;
  const said = m[1]!.toLowerCase();
  return nicks.some((n) => n.toLowerCase() === said) ? m[2]!.trim() : undefined;
}

function where(value: string | undefined, filters: Filter[]): void {
  if (value === undefined) throw new ChatCommandError('--where needs a filter, e.g. tags=web');
  try {
    filters.push(parseWhere(value));
  } catch (err) {
    if (err instanceof FilterSyntaxError) {
      throw new ChatCommandError(err.message.split('\n')[0]!, { cause: err });
    }
    throw err;
  }
}

function names(value: string | undefined): string[] {
  const list = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (list.length === 0) throw new ChatCommandError('--nodes needs names, e.g. --nodes web1,web2');
  return list;
}

function jobId(words: readonly string[], name: string): string {
  const id = words[0];
  if (id === undefined || words.length > 1 || !isMessageId(id)) {
    throw new ChatCommandError(
      `${name} takes one job id (a UUID), got ${words.length === 0 ? 'none' : JSON.stringify(words.join(' '))}`,
    );
  }
  return id;
}

interface Parsed {
  target: Target;
  rest: string[];
  timeout?: number;
}

/** Target flags, the positional target shorthand (as `admiral ping`), and what is left. */
function parseTarget(words: readonly string[], opts: { command: boolean }): Parsed {
  const filters: Filter[] = [];
  let nodes: string[] | undefined;
  let all = false;
  let timeout: number | undefined;
  let i = 0;
  const rest: string[] = [];
  for (; i < words.length; i++) {
    const w = words[i]!;
    const eq = w.indexOf('=');
    const flag = w.startsWith('--') && eq > 0 ? w.slice(0, eq) : w;
    const inline = w.startsWith('--') && eq > 0 ? w.slice(eq + 1) : undefined;
    const value = (): string | undefined => inline ?? words[++i];
    if (w === '--') {
      i++;
      break;
    } else if (flag === '--where') where(value(), filters);
    else if (flag === '--nodes') nodes = [...(nodes ?? []), ...names(value())];
    else if (w === '--all') all = true;
    else if (flag === '--timeout' && opts.command) {
      const v = value();
      const n = Number(v);
      if (!(n > 0)) {
        throw new ChatCommandError(`--timeout takes seconds, got ${JSON.stringify(v ?? '')}`);
      }
      timeout = n;
    } else if (w.startsWith('-')) {
      throw new ChatCommandError(`unknown option ${w}`);
    } else if (opts.command) {
      break; // the command starts here (no `--`)
    } else if (/[=~<>]/.test(w)) where(w, filters);
    else nodes = [...(nodes ?? []), ...names(w)];
  }
  rest.push(...words.slice(i));
  const target: Target = {
    ...(nodes !== undefined && { nodes }),
    ...(all && { all: true }),
    ...(filters.length > 0 && { where: filters }),
  };
  return { target, rest, ...(timeout !== undefined && { timeout }) };
}

/** Reads the text after `admiral:` into a command; throws ChatCommandError saying what is wrong. */
export function parseCommand(text: string): ChatCommand {
  const words = splitWords(text);
  const [name, ...args] = words;
  switch (name?.toLowerCase()) {
    case undefined:
    case 'help':
      return { name: 'help' };
    case 'ping':
    case 'nodes': {
      const p = parseTarget(args, { command: false });
      return { name: name.toLowerCase() as 'ping' | 'nodes', target: p.target };
    }
    case 'jobs':
      if (args.length > 0) throw new ChatCommandError('jobs takes nothing; for one job: job ID');
      return { name: 'jobs' };
    case 'job':
      return { name: 'job', id: jobId(args, 'job') };
    case 'cancel':
      return { name: 'cancel', id: jobId(args, 'cancel') };
    case 'fleet':
      if (args.length === 0) throw new ChatCommandError('fleet needs a command, e.g. fleet uptime');
      return { name: 'run', target: { all: true }, args };
    case 'run': {
      const p = parseTarget(args, { command: true });
      if (p.rest.length === 0) {
        throw new ChatCommandError('run needs a command after --, e.g. run --all -- uptime');
      }
      if (p.target.nodes === undefined && p.target.all !== true && p.target.where === undefined) {
        throw new ChatCommandError(
          'run needs a target: --nodes a,b, --all or --where fact=glob (or: fleet CMD)',
        );
      }
      return {
        name: 'run',
        target: p.target,
        args: p.rest,
        ...(p.timeout !== undefined && { timeout: p.timeout }),
      };
    }
    default:
      throw new ChatCommandError(`unknown command ${JSON.stringify(name)}; try: help`);
  }
}

/** The class `parseCommand`'s first word asks for, before parsing the rest (refuse early). */
export function classOfWord(text: string): CommandClass | undefined {
  const first = /^\s*(\S+)/.exec(text)?.[1]?.toLowerCase() as ChatCommandName | undefined;
  if (first === undefined || !Object.hasOwn(COMMAND_CLASS, first)) return undefined;
  return COMMAND_CLASS[first];
}
