/**
 * What an input answers for one submission: ids it accepted, errors for what it rejected, and
 * the messages whose id the node already held (a batch sent again after a lost answer), each
 * with where it stands now. A duplicate is neither stored nor sent again.
 */
export interface SubmitResult {
  readonly accepted: readonly string[];
  readonly rejected: readonly { readonly index: number; readonly errors: readonly string[] }[];
  readonly duplicates: readonly SubmitDuplicate[];
}

/** A submitted message whose id was already in the outbox, and its state there. */
export interface SubmitDuplicate {
  readonly id: string;
  /** The outbox state: pending, delivered, completed, failed, expired, … */
  readonly state: string;
}

/** Hands raw operator input (JSON array, single object or YAML) to the node. */
export type Submit = (raw: Buffer, source: string) => Promise<SubmitResult>;

/** A running input; `close` stops it and releases its socket or watcher. */
export interface Input {
  readonly name: string;
  /** Where it listens: a socket path, host:port, URL or folder. */
  readonly address: string;
  close(): Promise<void>;
}

/** The most an input reads for one submission; larger input is refused. */
export const MAX_SUBMISSION_BYTES = 16 * 1024 * 1024;

/** The answer for input refused as a whole (too large, unreadable, or the node failed on it). */
export function refusedInput(reason: string): SubmitResult {
  return { accepted: [], rejected: [{ index: 0, errors: [reason] }], duplicates: [] };
}
