import { Worker } from 'node:worker_threads';
import { helperUrl } from '../layout.js';
import type { Message } from './message.js';
import { envelopeSigningText, isValidSignatureOver } from './signing.js';

// An ed25519 verify costs ~3 signs in OpenSSL (≈215 µs on the 2-core test machines, the largest
// single item of bench/messaging's profile): receivers check signatures on a worker thread so the
// node's own thread stays free for NATS, SQLite and methods. Same check, same bytes, same answer;
// if the thread cannot run, the check runs inline.

/**
 * One signature to check: the message's signing text (`envelopeSigningText`; a string, because a
 * small Buffer is a view of a shared pool that postMessage would copy whole), signature, signer.
 */
export interface VerifyItem {
  readonly text: string;
  readonly sig: string;
  readonly signer: string;
}

/** @internal The message sent to the worker. */
export interface VerifyRequest {
  readonly seq: number;
  readonly items: readonly VerifyItem[];
}

/** @internal The worker's answer. */
export interface VerifyResponse {
  readonly seq: number;
  readonly valid: readonly boolean[];
}

interface Waiting {
  readonly items: readonly VerifyItem[];
  readonly resolve: (valid: boolean[]) => void;
}

/** Checks message signatures in batches off the calling thread. */
export class SignatureVerifier {
  #worker: Worker | undefined;
  /** Set once the worker failed: every check runs inline from then on. */
  #inline = false;
  readonly #waiting = new Map<number, Waiting>();
  #seq = 0;

  /** Whether each envelope's `sig` is its `signer`'s signature over its `msg`, in order. */
  verifyMany(
    envelopes: readonly {
      msg: Message;
      sig: string;
      signer: string;
      proof?: readonly string[] | undefined;
    }[],
  ): Promise<boolean[]> {
    const items: VerifyItem[] = [];
    const valid: (boolean | undefined)[] = [];
    for (const e of envelopes) {
      try {
        items.push({ text: envelopeSigningText(e), sig: e.sig, signer: e.signer });
        valid.push(undefined);
      } catch {
        valid.push(false); // not canonicalisable, so it cannot have been signed
      }
    }
    return this.#check(items).then((checked) => {
      let k = 0;
      return valid.map((v) => v ?? (checked[k++] as boolean));
    });
  }

  /** Whether each item's `sig` is its `signer`'s signature over its `text`, in order. */
  verifyItems(items: readonly VerifyItem[]): Promise<boolean[]> {
    return this.#check(items);
  }

  #check(items: readonly VerifyItem[]): Promise<boolean[]> {
    if (items.length === 0) return Promise.resolve([]);
    const worker = this.#ensureWorker();
    if (worker === undefined) return Promise.resolve(verifyInline(items));
    const seq = this.#seq++;
    return new Promise((resolve) => {
      this.#waiting.set(seq, { items, resolve });
      if (this.#waiting.size === 1) worker.ref();
      const req: VerifyRequest = { seq, items };
      worker.postMessage(req);
    });
  }

  #ensureWorker(): Worker | undefined {
    if (this.#inline) return undefined;
    if (this.#worker !== undefined) return this.#worker;
    try {
      const worker = new Worker(helperUrl('verify-worker'));
      worker.on('message', (res: VerifyResponse) => {
        const w = this.#waiting.get(res.seq);
        if (w === undefined) return;
        this.#waiting.delete(res.seq);
        if (this.#waiting.size === 0) worker.unref();
        w.resolve([...res.valid]);
      });
      worker.on('error', () => this.#fail());
      worker.on('exit', () => this.#fail());
      // Idle, the thread must not keep the process alive.
      worker.unref();
      this.#worker = worker;
      return worker;
    } catch {
      this.#inline = true;
      return undefined;
    }
  }

  /** The worker died: answer what it held inline, and check inline from now on. */
  #fail(): void {
    this.#inline = true;
    this.#worker = undefined;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.resolve(verifyInline(w.items));
  }
}

function verifyInline(items: readonly VerifyItem[]): boolean[] {
  return items.map(isValidItem);
}

/** @internal Checks one item (here inline, or on the worker). */
export function isValidItem(item: VerifyItem): boolean {
  return isValidSignatureOver(Buffer.from(item.text, 'utf8'), item.sig, item.signer);
}

/** One verifier per process, shared by every node in it (tests and benchmarks run several). */
export const signatureVerifier = new SignatureVerifier();
