// Process groups: every command runs as the leader of its own group (spawn `detached: true`,
// which calls setsid), so timeout and cancel can stop the whole pipeline it started. Signalling
// only the direct child leaves `sleep 100 | cat` running (Steward's open bug, golang/go#23019).

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { sleep } from './output.js';

const PROC = '/proc';

/** Pids of the live (not zombie) processes in group `pgid`, or undefined when /proc is missing. */
export function groupMembers(pgid: number): number[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync(PROC);
  } catch {
    return undefined;
  }
  const members: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`${PROC}/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // Fields after the command name, which is in parentheses and may itself contain spaces
    // (proc(5)): state ppid pgrp ...
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = rest[0];
    const pgrp = Number(rest[2]);
    // A zombie is dead already; only its parent's wait() removes it, and that may never come
    // when the parent is a container's PID 1 that does not reap.
    if (pgrp === pgid && state !== 'Z' && state !== 'X') members.push(Number(entry));
  }
  return members;
}

/** True while process `pid` runs (a zombie, dead but not yet reaped, does not count). */
export function processAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`${PROC}/${pid}/stat`, 'utf8');
  } catch {
    try {
      process.kill(pid, 0);
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    // No /proc entry but the pid answers: no /proc here (not Linux).
    return !existsSync(PROC);
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  return state !== 'Z' && state !== 'X';
}

/** True while at least one live process is in group `pgid`. */
export function groupAlive(pgid: number): boolean {
  const members = groupMembers(pgid);
  if (members !== undefined) return members.length > 0;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** Waits until group `pgid` has no live process, up to `ms`; true when it is gone. */
export async function waitGroupGone(pgid: number, ms: number, pollMs = 25): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (!groupAlive(pgid)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
}

/**
 * Stops every process of group `pgid`: SIGTERM, then SIGKILL after `graceMs` for whatever is
 * left. Resolves true when no live process of the group remains.
 */
export async function killGroup(pgid: number, graceMs: number): Promise<boolean> {
  if (!Number.isInteger(pgid) || pgid <= 1) return true; // never signal group 0, 1 or ourselves
  signalGroup(pgid, 'SIGTERM');
  if (await waitGroupGone(pgid, graceMs)) return true;
  signalGroup(pgid, 'SIGKILL');
  return waitGroupGone(pgid, 2000);
}
