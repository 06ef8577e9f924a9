/** What an input answers for one submission: ids it accepted, errors for what it rejected. */
export interface SubmitResult {
  readonly accepted: readonly string[];
  readonly rejected: readonly { readonly index: number; readonly errors: readonly string[] }[];
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
