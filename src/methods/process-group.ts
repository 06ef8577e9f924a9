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
    const fields = statFields(Number(entry));
    if (fields === undefined) continue; // exited while we looked
    // state ppid pgrp ...
    const state = fields[0];
    const pgrp = Number(fields[2]);
    // A zombie is dead already; only its parent's wait() removes it, and that may never come
    // when the parent is a container's PID 1 that does not reap.
    if (pgrp === pgid && state !== 'Z' && state !== 'X') members.push(Number(entry));
  }
  return members;
}

/** The fields of /proc/<pid>/stat after the command name (field 3, state, first); undefined when gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`${PROC}/${pid}/stat`, 'utf8');
    // The name is in parentheses and may itself contain spaces (proc(5)).
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** True while process `pid` runs (a zombie, dead but not yet reaped, does not count). */
export function processAlive(pid: number): boolean {
  const fields = statFields(pid);
  if (fields === undefined) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    // No /proc entry but the pid answers: no /proc here (not Linux).
    return !existsSync(PROC);
  }
  return fields[0] !== 'Z' && fields[0] !== 'X';
}

/** A process, told apart from a later one that reuses its pid by its start time. */
export interface ProcessIdentity {
  readonly pid: number;
  /** Clock ticks after boot (proc(5) stat field 22); undefined where /proc is missing. */
  readonly startTime?: number;
}

/** Start time of `pid` (stat field 22); undefined when it is not running or /proc is missing. */
export function processStartTime(pid: number): number | undefined {
  const ticks = Number(statFields(pid)?.[19]);
  return Number.isFinite(ticks) ? ticks : undefined;
}

/**
 * True while `who` runs and is the same process: a pid recorded before a reboot or long ago may
 * name someone else's process now.
 */
export function sameProcessAlive(who: ProcessIdentity): boolean {
  if (!processAlive(who.pid)) return false;
  return who.startTime === undefined || processStartTime(who.pid) === who.startTime;
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
 * True when `leader`'s pid names another process now (a different start time): the group it led
 * is gone, since Linux does not hand out a pid again while a process group still carries it as
 * its id (the pid is freed only once no process uses it as pid, group or session id).
 */
export function pidReused(leader: ProcessIdentity): boolean {
  if (leader.startTime === undefined) return false;
  const now = processStartTime(leader.pid);
  return now !== undefined && now !== leader.startTime;
}

/**
 * Stops every process of the group that `group` leads (a pgid, or better the leader's identity):
 * SIGTERM, then SIGKILL after `graceMs` for whatever is left. Resolves true when no live process
 * of the group remains. Given an identity, a group whose leader's pid now names another process
 * is taken as gone and never signalled: that pid, and a group of that id, belong to someone else.
 */
export async function killGroup(
  group: number | ProcessIdentity,
  graceMs: number,
): Promise<boolean> {
  const leader = typeof group === 'number' ? { pid: group } : group;
  const pgid = leader.pid;
  if (!Number.isInteger(pgid) || pgid <= 1) return true; // never signal group 0, 1 or ourselves
  if (pidReused(leader)) return true;
  signalGroup(pgid, 'SIGTERM');
  if (await waitGroupGone(pgid, graceMs)) return true;
  if (pidReused(leader)) return true;
  signalGroup(pgid, 'SIGKILL');
  return waitGroupGone(pgid, 2000);
}
