// The contract between the node daemon and the methods it runs. A method sees plain values,
// never the broker or the store: the node turns what a method returns into reply messages.

import type { Message } from '../protocol/message.js';

/** What a method is asked to do: the fields of the received message a method may use. */
export interface MethodRequest {
  /** The message id (ULID/UUIDv7); unique, used to name per-run files. */
  readonly id: string;
  readonly fromNode: string;
  readonly toNode: string;
  readonly method: string;
  /** Steward's `methodArgs`. */
  readonly methodArgs: readonly string[];
  /** Steward's `methodTimeout`, in seconds; 0 or less means the node's default. */
  readonly methodTimeout: number;
  /** Payload carried by the message: for a reply method, the output of the request it answers. */
  readonly data?: string;
  /** Steward's `directory` and `fileName`, used by the reply methods that write files. */
  readonly directory?: string;
  readonly fileName?: string;
  /** For reply methods: the state of the request this reply answers. */
  readonly replyStatus?: MethodStatus;
  /** For reply methods: the id of the request this reply answers. */
  readonly inReplyTo?: string;
  /**
   * The whole message as received, for methods that forward it (REQRelay keeps its timeouts,
   * reply fields and stream position); absent outside a node.
   */
  readonly message?: Message;
}

/** How a run ended, as the sender will record it. */
export const MethodStatus = {
  ok: 'ok',
  error: 'error',
  timeout: 'timeout',
  cancelled: 'cancelled',
  interrupted: 'interrupted',
  /** Not run: its message expired before it could start (the sender records `expired`). */
  expired: 'expired',
} as const;
export type MethodStatus = (typeof MethodStatus)[keyof typeof MethodStatus];

/** What a method produced. Becomes the `data` and status of the reply message. */
export interface MethodOutput {
  readonly status: MethodStatus;
  /** The text result (stdout for commands). */
  readonly data: string;
  readonly stderr?: string;
  readonly exitCode?: number;
  /** Why it failed, for status other than ok. */
  readonly error?: string;
  /** True when the output was cut at the node's cap; `data` then ends with a note saying so. */
  readonly truncated?: boolean;
  /** Stable code of the failure (e.g. `ADMIRAL_UNSAFE_PATH`), for the error log and the sender. */
  readonly code?: string;
  /**
   * The answer will come later from elsewhere (REQRelay: the relayed node's reply is forwarded).
   * The node sends no reply for this run, and the sender's message stays delivered until then.
   */
  readonly deferred?: boolean;
}

/** One piece of a streamed result (REQCliCommandCont, REQTailFile): each becomes a reply with `seq`. */
export interface MethodChunk {
  readonly data: string;
  /** Which output of a command the line came from (REQCliCommandCont); absent for other streams. */
  readonly stream?: 'stdout' | 'stderr';
}

export interface MethodLimits {
  /** Largest output returned by a method, in bytes; default 10 MiB. */
  readonly maxOutputBytes: number;
  /** Directories (absolute) under which file-reading methods may read; default the data dir. */
  readonly readAllow: readonly string[];
  /** Default methodTimeout when the message gives none, in seconds. */
  readonly defaultMethodTimeout: number;
  /**
   * Absolute paths of the node's own state outside the data dir's reserved names (a watched input
   * folder, configured extension, facts and backup folders, key files): never written by a method.
   */
  readonly statePaths?: readonly string[];
  /** Time between SIGTERM and SIGKILL when a command's process group is stopped; default 2000 ms. */
  readonly killGraceMs?: number;
}

/** A running method, as REQOpProcessList shows it. */
export interface RunningMethod {
  readonly id: string;
  readonly method: string;
  readonly fromNode: string;
  /** Unix ms. */
  readonly startedAt: number;
}

/**
 * What the node offers methods that act on the node itself (process control, cancel, relay,
 * copy): sending messages through its outbox, its running methods, and cancelling one.
 */
export interface NodeServices {
  readonly nodeName: string;
  readonly publicKey: string;
  /**
   * Validates, signs and commits messages to the outbox, as operator input is (same shape as
   * Steward's JSON); `fromNode` is this node. Returns the ids accepted and errors per message.
   * `idFor` names the id of the copy for a node (CompletionContext.idFor).
   */
  submit(
    messages: readonly Record<string, unknown>[],
    options?: { readonly idFor?: (toNode: string | undefined) => string | undefined },
  ): {
    accepted: string[];
    rejected: { index: number; errors: string[] }[];
  };
  /** Methods running now. */
  running(): RunningMethod[];
  /** Aborts a running method with reason 'cancelled'; false when it is not running. */
  cancel(id: string): boolean;
  /** Where a message this node sent stands (its outbox record); undefined when unknown. */
  status(id: string): SentStatus | undefined;
  /** The methods this node has a handler for (its subscribers, in Steward's words), sorted. */
  methods(): string[];
  /** Methods whose subscriber was stopped (REQOpProcessStop): the node refuses them. */
  stoppedMethods(): string[];
  /** Stops (refuses from now on) or starts again the subscriber of a method. */
  setMethodStopped(method: string, stopped: boolean): void;
  /** The node's publishers: one per target node with messages waiting in the outbox. */
  publishers(): { toNode: string; pending: number }[];
  /**
   * Plain NATS request/reply for bulk bytes (copy chunks) that must not go through the durable
   * outbox/inbox; absent when the node has no broker connection to offer (unit tests).
   */
  readonly bulk?: BulkTransport;
}

/**
 * Request/reply on per-transfer subjects, outside the durable message path: no signing, no
 * outbox, no inbox, no audit. Whoever uses it authenticates its payloads itself.
 */
export interface BulkTransport {
  /** Largest payload the broker takes, in bytes (its INFO `max_payload`). */
  maxPayload(): number;
  /** The subject of one transfer to `node`: `<prefix>.bulk.<node>.<transfer id>`. */
  subject(node: string, transferId: string): string;
  /** Answers each request on `subject` with what `handler` resolves to, until closed. */
  serve(subject: string, handler: (data: Uint8Array) => Promise<Uint8Array>): { close(): void };
  /** One request; rejects on timeout, when nobody serves the subject, or when disconnected. */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
}

/** A sent message's state as the sender records it (outbox). */
export interface SentStatus {
  /** pending, delivered, or a terminal state (completed, failed, expired, …). */
  readonly state: string;
  readonly error?: string;
  /** For a completed message: the summary of the reply that settled it. */
  readonly result?: unknown;
}

export interface MethodContext {
  readonly request: MethodRequest;
  readonly nodeName: string;
  /** Absolute path of the node's data dir: every file a method writes lands under it. */
  readonly dataDir: string;
  readonly limits: MethodLimits;
  /** Aborted on methodTimeout (reason: 'timeout') or cancel (reason: 'cancelled'). */
  readonly signal: AbortSignal;
  /** Streams one chunk to the sender (only for methods whose kind is 'stream'). */
  emit(chunk: MethodChunk): void;
  /** Where a reply method prints: REQToConsole writes here (the node decides where it goes). */
  console(line: string): void;
  log(
    level: 'debug' | 'info' | 'warn' | 'error',
    msg: string,
    fields?: Record<string, unknown>,
  ): void;
  /** The node's own services; absent when a method runs outside a node (unit tests). */
  readonly services?: NodeServices;
  /**
   * Unix ms from which no new work may start for this message (its expiry), given to recover():
   * it may still collect the result of a run that started, but must not start one.
   */
  readonly startBy?: number;
}

export const MethodKind = {
  /** Runs and returns one result that travels back as the reply. */
  request: 'request',
  /** Runs and streams chunks (emit) before its final result. */
  stream: 'stream',
  /** Handles a reply on the origin node (write to file, console, none). Produces no reply. */
  reply: 'reply',
  /** Fire-and-ack: the message is complete once stored by the receiver (error log, hello). */
  event: 'event',
} as const;
export type MethodKind = (typeof MethodKind)[keyof typeof MethodKind];

export interface MethodHandler {
  readonly name: string;
  readonly kind: MethodKind;
  /** Safe to run again after a crash interrupted it (otherwise it is reported `interrupted`). */
  readonly idempotent?: boolean;
  /** Needs a trusted signer by default policy (commands, file reads, HTTP, process control). */
  readonly privileged?: boolean;
  /**
   * A reply method whose run does nothing (REQNone): the reply only settles the request it
   * answers, so the executor records it as soon as it is stored instead of claiming and running it.
   */
  readonly settlesOnly?: boolean;
  run(ctx: MethodContext): Promise<MethodOutput>;
  /**
   * After a crash, for a message that was running: recover its result if the work finished or is
   * still running (e.g. a command whose process outlived the node). Undefined means interrupted.
   */
  recover?(ctx: MethodContext): Promise<MethodOutput | undefined>;
  /**
   * Called once the node has committed the result of run() or recover(): release what was kept
   * so a crash before that commit could still recover the result (a command's run directory).
   */
  settled?(ctx: MethodContext): Promise<void>;
}
