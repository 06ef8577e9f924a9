import { ircEqual } from './irc-connection.js';

// Who may ask the chat bridge for what: per command class, a list of `nick!user@host` masks
// (`*` any run of characters, `?` one; compared as IRC compares names) and `account:NAME`
// entries, which match the services account the server vouches for (IRCv3 account-tag). A
// mask is only as good as the server's idea of user and host: on a network with services,
// prefer accounts (or cloaks). Nobody is allowed anything unless listed.

/** `read`: ping, nodes, jobs, job ID. `run`: run, fleet, cancel (and everything `read` may). */
export const COMMAND_CLASSES = ['read', 'run'] as const;
export type CommandClass = (typeof COMMAND_CLASSES)[number];

export interface Allowlist {
  readonly read: readonly string[];
  readonly run: readonly string[];
}

/** Who said it, as the server told. */
export interface Speaker {
  readonly nick: string;
  readonly user: string;
  readonly host: string;
  readonly account?: string;
}

/** An allowlist entry that cannot be read. */
export class AllowlistEntryError extends Error {
  override readonly name = 'AllowlistEntryError';
  readonly code = 'ADMIRAL_CHAT_ALLOWLIST';
}

const caseFold = (s: string): string =>
  s.toLowerCase().replace(/\[/g, '{').replace(/\]/g, '}').replace(/\\/g, '|').replace(/~/g, '^');

function maskRegExp(mask: string): RegExp {
  const body = caseFold(mask)
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 's');
}

/** Checks one entry's form: `account:NAME`, or `nick!user@host` with globs. */
export function checkAllowEntry(entry: string): void {
  if (entry.startsWith('account:')) {
    if (entry.length === 'account:'.length || /\s/.test(entry)) {
      throw new AllowlistEntryError(
        `Expected an account entry like account:alice, got ${JSON.stringify(entry)}`,
      );
    }
    return;
  }
  if (!/^[^\s!@]+![^\s!@]+@[^\s!@]+$/.test(entry)) {
    throw new AllowlistEntryError(
      `Expected a mask like nick!user@host (globs * and ?, e.g. alice!*@*.example.org) or account:NAME, got ${JSON.stringify(entry)}`,
    );
  }
}

/** Whether one entry matches the speaker. */
export function entryMatches(entry: string, who: Speaker): boolean {
  if (entry.startsWith('account:')) {
    return who.account !== undefined && ircEqual(entry.slice('account:'.length), who.account);
  }
  return maskRegExp(entry).test(caseFold(`${who.nick}!${who.user}@${who.host}`));
}

/** Whether the speaker may use commands of `cls` (`run` entries may also read). */
export function isAllowed(list: Allowlist, cls: CommandClass, who: Speaker): boolean {
  const entries = cls === 'read' ? [...list.read, ...list.run] : list.run;
  return entries.some((e) => entryMatches(e, who));
}
