// The bulk side of a copy: chunk frames that travel by plain NATS request/reply (never through the
// outbox, inbox or audit log), and the destination's open transfers that write them.
//
// A frame is binary: version (1 byte), offset (u64 BE), SHA-256 of the data (32 bytes), and an
// HMAC-SHA256 (32 bytes) of transfer id + offset + that hash under the transfer's key, then the
// data. The key is random per transfer and reaches the destination only in the signed durable
// `open` step, so only the node that was asked can feed a transfer; a frame seen on the wire
// cannot be altered or moved to another offset or transfer.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, lstat, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dirEntries } from './dir-entries.js';
import type { BulkTransport } from './types.js';

export const FRAME_VERSION = 1;
/** Bytes before a frame's data. */
export const FRAME_HEADER_BYTES = 1 + 8 + 32 + 32;
/** A destination drops a transfer that got no chunk for this long (part file included). */
export const IDLE_TIMEOUT_MS = 10 * 60 * 1000;
/** The resume point is saved after this many new contiguous bytes (and when the transfer closes). */
const SAVE_EVERY_BYTES = 64 * 1024 * 1024;
/** Chunks held for the running hash until the gap before them fills; more is a broken sender. */
const MAX_PENDING_CHUNKS = 256;

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

function frameMac(key: Buffer, transferId: string, offset: number, hash: Uint8Array): Buffer {
  const pos = Buffer.allocUnsafe(8);
  pos.writeBigUInt64BE(BigInt(offset));
  return createHmac('sha256', key)
    .update('admiral copy chunk\0')
    .update(transferId)
    .update('\0')
    .update(pos)
    .update(hash)
    .digest();
}

/**
 * A buffer with room for a frame of `dataBytes`: the file is read straight into its data part
 * (`frame.subarray(FRAME_HEADER_BYTES)`) and sealed in place, so no chunk is copied.
 */
export function allocFrame(dataBytes: number): Buffer {
  return Buffer.allocUnsafe(FRAME_HEADER_BYTES + dataBytes);
}

/** Fills the header of `frame` (whose data part holds the chunk) and returns it. */
export function sealFrame(frame: Buffer, key: Buffer, transferId: string, offset: number): Buffer {
  const hash = sha256(frame.subarray(FRAME_HEADER_BYTES));
  frame[0] = FRAME_VERSION;
  frame.writeBigUInt64BE(BigInt(offset), 1);
  hash.copy(frame, 9);
  frameMac(key, transferId, offset, hash).copy(frame, 41);
  return frame;
}

/** What the destination answers to a frame. `contiguous`: bytes from 0 confirmed written. */
export type ChunkAck =
  | { readonly ok: true; readonly contiguous: number }
  | { readonly ok: false; readonly error: string; readonly retry: boolean };

export function encodeAck(ack: ChunkAck): Uint8Array {
  return Buffer.from(JSON.stringify(ack));
}

export function decodeAck(data: Uint8Array): ChunkAck {
  try {
    const v = JSON.parse(Buffer.from(data).toString('utf8')) as Partial<{
      ok: boolean;
      contiguous: number;
      error: string;
      retry: boolean;
    }>;
    if (v.ok === true && Number.isSafeInteger(v.contiguous)) {
      return { ok: true, contiguous: v.contiguous as number };
    }
    if (v.ok === false && typeof v.error === 'string') {
      return { ok: false, error: v.error, retry: v.retry === true };
    }
  } catch {
    // answered below
  }
  return { ok: false, error: 'unreadable answer from the destination', retry: true };
}

export function partFile(dataDir: string, transferId: string): string {
  return join(dataDir, 'copy', `${transferId}.part`);
}

/** Where the destination keeps a transfer's resume point (JSON `{ contiguous, size }`). */
export function stateFile(dataDir: string, transferId: string): string {
  return join(dataDir, 'copy', `${transferId}.state`);
}

/** Removes what a transfer left on disk. */
export async function dropFiles(dataDir: string, transferId: string): Promise<void> {
  await rm(partFile(dataDir, transferId), { force: true });
  await rm(stateFile(dataDir, transferId), { force: true });
}

/**
 * One transfer being received: its part file open for writes at any offset, the bytes confirmed
 * from 0 (the resume point), and the SHA-256 of those bytes computed as they arrive, so the commit
 * need not read the file again.
 */
export class IncomingTransfer {
  readonly dataDir: string;
  readonly transferId: string;
  readonly size: number;
  #key: Buffer;
  readonly #handle: FileHandle;
  #serving: { close(): void } | undefined;
  #contiguous: number;
  /** Valid while it covers [0, contiguous): false after resuming from a saved point. */
  #hashValid: boolean;
  readonly #hash = createHash('sha256');
  /** Written chunks beyond the contiguous point, by offset. */
  readonly #pending = new Map<number, Buffer>();
  #saved: number;
  #saving: Promise<void> = Promise.resolve();
  readonly #writes = new Set<Promise<unknown>>();
  #idle: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #onIdle: () => void;

  private constructor(
    dataDir: string,
    transferId: string,
    size: number,
    key: Buffer,
    handle: FileHandle,
    contiguous: number,
    onIdle: () => void,
  ) {
    this.dataDir = dataDir;
    this.transferId = transferId;
    this.size = size;
    this.#key = key;
    this.#handle = handle;
    this.#contiguous = contiguous;
    this.#saved = contiguous;
    this.#hashValid = contiguous === 0;
    this.#onIdle = onIdle;
  }

  /**
   * Opens (creating) the part file, resuming from its saved point when one matches `size`.
   * The caller has checked the destination path: nothing is created before that.
   */
  static async open(
    dataDir: string,
    transferId: string,
    size: number,
    key: Buffer,
    onIdle: () => void,
  ): Promise<IncomingTransfer> {
    const handle = await open(
      partFile(dataDir, transferId),
      constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW,
      0o600,
    );
    let contiguous = 0;
    try {
      const saved = JSON.parse(await readFile(stateFile(dataDir, transferId), 'utf8')) as {
        contiguous?: unknown;
        size?: unknown;
      };
      const onDisk = (await handle.stat()).size;
      if (
        saved.size === size &&
        Number.isSafeInteger(saved.contiguous) &&
        (saved.contiguous as number) <= Math.min(size, onDisk)
      ) {
        contiguous = saved.contiguous as number;
      }
    } catch {
      // no saved point (or an unreadable one): start from 0
    }
    const t = new IncomingTransfer(dataDir, transferId, size, key, handle, contiguous, onIdle);
    t.#touch();
    return t;
  }

  get contiguous(): number {
    return this.#contiguous;
  }

  /** A new `open` for the same transfer (the source restarted): its key replaces the old one. */
  rekey(key: Buffer): void {
    this.#key = key;
    this.#touch();
  }

  /** Starts answering frames on the transfer's bulk subject. */
  serve(bulk: BulkTransport, subject: string): void {
    this.#serving?.close();
    this.#serving = bulk.serve(subject, async (data) => encodeAck(await this.#receive(data)));
  }

  async #receive(data: Uint8Array): Promise<ChunkAck> {
    if (this.#closed) return { ok: false, error: 'transfer closed', retry: false };
    const frame = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (frame.length < FRAME_HEADER_BYTES || frame[0] !== FRAME_VERSION) {
      return { ok: false, error: `expected a version ${FRAME_VERSION} chunk frame`, retry: false };
    }
    const offset = Number(frame.readBigUInt64BE(1));
    const hash = frame.subarray(9, 41);
    const mac = frame.subarray(41, FRAME_HEADER_BYTES);
    const chunk = frame.subarray(FRAME_HEADER_BYTES);
    // The key authenticates the sender; a frame that fails is not written and not retried.
    if (!timingSafeEqual(mac, frameMac(this.#key, this.transferId, offset, hash))) {
      return { ok: false, error: 'chunk not authenticated by the transfer key', retry: false };
    }
    if (!Number.isSafeInteger(offset) || offset + chunk.length > this.size) {
      return {
        ok: false,
        error: `chunk at ${offset} of ${chunk.length} bytes is past the announced size ${this.size}`,
        retry: false,
      };
    }
    const actual = sha256(chunk);
    if (!actual.equals(hash)) {
      return {
        ok: false,
        error: `chunk at ${offset}: expected sha256 ${hash.toString('hex')}, got ${actual.toString('hex')} (${chunk.length} bytes)`,
        retry: true,
      };
    }
    this.#touch();
    const write = this.#write(chunk, offset);
    this.#writes.add(write);
    try {
      await write;
    } catch (err) {
      return { ok: false, error: `cannot write the part file: ${String(err)}`, retry: false };
    } finally {
      this.#writes.delete(write);
    }
    if (this.#closed) return { ok: false, error: 'transfer closed', retry: false };
    this.#advance(offset, chunk);
    return { ok: true, contiguous: this.#contiguous };
  }

  async #write(chunk: Buffer, offset: number): Promise<void> {
    let done = 0;
    while (done < chunk.length) {
      const { bytesWritten } = await this.#handle.write(
        chunk,
        done,
        chunk.length - done,
        offset + done,
      );
      done += bytesWritten;
    }
  }

  /** Moves the contiguous point over `chunk` (written at `offset`) and what waited behind it. */
  #advance(offset: number, chunk: Buffer): void {
    if (offset > this.#contiguous) {
      if (this.#pending.size >= MAX_PENDING_CHUNKS) this.#hashValid = false;
      else this.#pending.set(offset, Buffer.from(chunk)); // the message buffer is not ours to keep
      return;
    }
    if (offset + chunk.length <= this.#contiguous) return; // sent again after a lost answer
    let next: Buffer | undefined = chunk.subarray(this.#contiguous - offset);
    while (next !== undefined) {
      if (this.#hashValid) this.#hash.update(next);
      this.#contiguous += next.length;
      next = this.#pending.get(this.#contiguous);
      this.#pending.delete(this.#contiguous);
    }
    if (this.#contiguous - this.#saved >= SAVE_EVERY_BYTES) this.#save();
  }

  #save(): void {
    const at = this.#contiguous;
    this.#saved = at;
    const text = JSON.stringify({ contiguous: at, size: this.size });
    this.#saving = this.#saving
      .then(() => writeFile(stateFile(this.dataDir, this.transferId), text, { mode: 0o600 }))
      .catch(() => undefined);
  }

  #touch(): void {
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = setTimeout(this.#onIdle, IDLE_TIMEOUT_MS);
    this.#idle.unref();
  }

  /**
   * Stops taking frames, waits for the writes under way and closes the part file. Returns the
   * SHA-256 of [0, size) when the running hash covers all of it, else undefined (read the file).
   */
  async close(): Promise<string | undefined> {
    if (!this.#closed) {
      this.#closed = true;
      if (this.#idle) clearTimeout(this.#idle);
      this.#serving?.close();
      await Promise.allSettled([...this.#writes]);
      await this.#saving;
      await this.#handle.close();
    }
    if (!this.#hashValid || this.#contiguous !== this.size) return undefined;
    this.#hashValid = false; // a digest can be taken once
    return this.#hash.digest('hex');
  }
}

/** The transfers a process is receiving, by data dir and transfer id. */
export const incoming = new Map<string, IncomingTransfer>();

export function incomingKey(dataDir: string, transferId: string): string {
  return `${dataDir}\0${transferId}`;
}

/**
 * Removes what transfers left in `<dataDir>/copy` that nobody is receiving: the part and state
 * files of a transfer not open in this process and untouched for IDLE_TIMEOUT_MS (a destination
 * restarted mid-copy whose source never came back, a process killed mid-write). The rule an open
 * transfer's idle timer applies. Returns the transfer ids dropped.
 */
export async function sweepStaleTransfers(dataDir: string, now = Date.now()): Promise<string[]> {
  const dir = join(dataDir, 'copy');
  const names = await dirEntries(dir);
  const touched = new Map<string, number>();
  for (const name of names) {
    const m = /^(.+)\.(part|state)$/.exec(name);
    const id = m?.[1];
    if (id === undefined || incoming.has(incomingKey(dataDir, id))) continue;
    try {
      const st = await lstat(join(dir, name));
      touched.set(id, Math.max(touched.get(id) ?? 0, st.mtimeMs));
    } catch {
      // removed meanwhile
    }
  }
  const dropped: string[] = [];
  for (const [id, at] of touched) {
    // Opened again while the directory was read: it is live.
    if (now - at < IDLE_TIMEOUT_MS || incoming.has(incomingKey(dataDir, id))) continue;
    await dropFiles(dataDir, id);
    dropped.push(id);
  }
  return dropped.sort();
}
