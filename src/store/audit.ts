import { closeSync, createReadStream, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

// The audit log is an append-only JSON-lines file, `<dataDir>/audit.log`, not an SQLite table:
// - it is what issue #3 asks for ("appended as a JSON line") and what operators' tools read:
//   `tail -f`, `grep`, `jq`, logrotate, and shippers such as Vector or fluent-bit need no SQL;
// - it grows without bound, so keeping it out of admiral.db keeps the hot outbox/inbox database
//   small and its write lock free for the writes an ACK waits on;
// - nothing on the ACK path reads it, so it needs no transactions or indexes.
// Each line is written with one write(2) on an O_APPEND descriptor: once `append` returns, the line
// is in the kernel and survives kill -9 of the process (the same guarantee as WAL with
// synchronous=NORMAL); `fsync: true` adds an fsync per line for power-loss durability.

export const AUDIT_FILE = 'audit.log';

export const AuditDirection = { in: 'in', out: 'out' } as const;
export type AuditDirection = (typeof AuditDirection)[keyof typeof AuditDirection];

/** One line of the audit log. */
export interface AuditEntry {
  /** When it happened, epoch ms. */
  at: number;
  /** `out`: this node sent it; `in`: this node received it. */
  direction: AuditDirection;
  /** What happened: enqueued, delivered, received, duplicate, started, finished, … */
  event: string;
  id: string;
  kind?: 'request' | 'reply';
  fromNode: string;
  toNode: string;
  method: string;
  /** The message's state after this event. */
  state?: string;
  error?: string;
  /** The message as submitted (Steward-shaped JSON): enough to submit it again with a new id. */
  message?: unknown;
  /** The signed envelope, base64: enough to resend the very same message. */
  envelope?: string;
}

export interface AuditLogOptions {
  /** Folder holding `audit.log`; created (mode 0700) when missing. */
  dataDir: string;
  /** fsync after every line (survives power loss); default false. */
  fsync?: boolean;
  /** File name inside `dataDir`; default `audit.log`. */
  fileName?: string;
}

export class AuditLog {
  readonly file: string;
  readonly #fsync: boolean;
  #fd: number | undefined;

  constructor(options: AuditLogOptions) {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    this.file = join(options.dataDir, options.fileName ?? AUDIT_FILE);
    this.#fsync = options.fsync ?? false;
    this.#fd = openSync(this.file, 'a', 0o600);
  }

  /** Appends one line; when it returns the line survives a crash of this process. */
  append(entry: AuditEntry): void {
    this.appendMany([entry]);
  }

  /** Appends several lines with one write(2); when it returns they survive a crash of this process. */
  appendMany(entries: readonly AuditEntry[]): void {
    if (entries.length === 0) return;
    if (this.#fd === undefined) throw new Error(`audit log ${this.file} is closed`);
    let text = '';
    for (const entry of entries) text += `${JSON.stringify(entry)}\n`;
    const bytes = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < bytes.length) off += writeSync(this.#fd, bytes, off, bytes.length - off);
    if (this.#fsync) fsyncSync(this.#fd);
  }

  /** Closes and reopens the file, for log rotation (call it on SIGHUP after `mv audit.log …`). */
  reopen(): void {
    this.close();
    this.#fd = openSync(this.file, 'a', 0o600);
  }

  /** Safe to call twice. */
  close(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** Encodes an envelope for `AuditEntry.envelope`. */
export function envelopeToAudit(envelope: Uint8Array): string {
  return Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength).toString('base64');
}

/**
 * Reads an audit log line by line. A line that does not parse (a torn last line after a disk-full
 * error, or a hand edit) is passed to `onBadLine` and skipped, never thrown.
 */
export async function* readAuditLog(
  file: string,
  onBadLine: (lineNo: number, line: string) => void = () => {},
): AsyncGenerator<AuditEntry> {
  const lines = createInterface({
    input: createReadStream(file),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    try {
      yield JSON.parse(line) as AuditEntry;
    } catch {
      onBadLine(n, line);
    }
  }
}
