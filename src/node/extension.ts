import type { NatsConnection } from '@nats-io/transport-node';
import type { HttpRoute } from '../http/server.js';
import type { MethodHandler, NodeServices } from '../methods/types.js';
import type { NodeMetrics } from '../observability/metrics.js';
import type { Identity, Subjects } from '../protocol/index.js';
import type { Store } from '../store/store.js';
import type { NodeKeys } from './node-keys.js';
import type { NodeOptions } from './options.js';

/** What an extension sees of its node once the node is connected. */
export interface NodeContext {
  readonly options: NodeOptions;
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly store: Store;
  readonly identity: Identity;
  readonly services: NodeServices;
  readonly metrics: NodeMetrics;
  /** The key each node name is known by (node-keys.ts). */
  readonly nodeKeys: NodeKeys;
  /** Sends a line to the central's error log (REQErrorLog), durably. */
  reportError(fields: ErrorLine): void;
  /**
   * Starts or stops taking messages addressed to this node. A node built with
   * `deferReceiving` (a central on shared state) takes none until told to: only the leading
   * central may, or two would settle the same replies.
   */
  receive(on: boolean): void;
  /**
   * Adds what the ACK of a settled reply waits for (Settler.hold): `hook` returns a promise for
   * the requests it cares about, or undefined. Returns its removal.
   */
  holdReplies(hook: (requests: readonly string[]) => Promise<void> | undefined): () => void;
}

/** A line for the central's error log: what failed, for which message, and why. */
export interface ErrorLine {
  readonly method: string;
  readonly messageId: string;
  readonly reason: string;
  readonly fromNode?: string;
  readonly toNode?: string;
}

/**
 * A duty added to a node: the central's inventory, registry and jobs, the fleet broadcast
 * listener, and so on. Methods and routes are registered when the node is built; `start` runs
 * once the broker connection is up, `stop` when the node closes (in reverse order).
 */
export interface NodeExtension {
  readonly name: string;
  /** Methods added to the node's registry. */
  readonly methods?: readonly MethodHandler[];
  /** Routes served on the node's HTTP listener (`inputs.httpListen`). */
  readonly routes?: readonly HttpRoute[];
  /** Fields merged into the node's hello event (facts). */
  hello?(): Record<string, unknown>;
  start(ctx: NodeContext): Promise<void>;
  stop(): Promise<void>;
}
