import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { parseHostPort, type RunningHttpServer, startHttpServer } from '../http/server.js';
import { sweepSettledRuns } from '../methods/cli-command.js';
import { sweepStaleTransfers } from '../methods/copy-transfer.js';
import { createMethodRegistry, METHOD_HANDLERS, type MethodRegistry } from '../methods/registry.js';
import { wrapForRelay } from '../methods/relay.js';
import type { NodeServices } from '../methods/types.js';
import { NodeMetrics } from '../observability/metrics.js';
import { writeStatusFile } from '../observability/status-file.js';
import { nodeInboxPrefix } from '../protocol/enrolment.js';
import {
  type CompletionContext,
  cappedExpiry,
  DEFAULT_MAX_CLOCK_SKEW_MS,
  type Envelope,
  encodeEnvelope,
  FileTrustStore,
  type Identity,
  InputLimitError,
  InputSyntaxError,
  isEventSignedBy,
  loadOrCreateIdentity,
  type Message,
  parseInput,
  Subjects,
  signatureVerifier,
  signEvent,
  signMessages,
} from '../protocol/index.js';
import { openStore, type Store } from '../store/store.js';
import { VERSION } from '../version.js';
import { connectToBroker } from './broker-connection.js';
import { createBulkTransport } from './bulk.js';
import { Executor } from './executor.js';
import type { ErrorLine, NodeContext } from './extension.js';
import { startFolderInput } from './inputs/folder-input.js';
import { messagesRoute } from './inputs/http-input.js';
import { apiToken } from '../http/bearer.js';
import { isLoopbackHost } from '../broker/loopback.js';
import { startSocketInput, startTcpInput } from './inputs/stream-input.js';
import { guarded } from './guarded.js';
import type { Input, SubmitResult } from './inputs/types.js';
import { joinFleet } from './join.js';
import { NodeKeys } from './node-keys.js';
import type { NodeOptions } from './options.js';
import { Policy } from './policy.js';
import { Publisher } from './publisher.js';
import { Receiver } from './receiver.js';
import { expectedReplyOf } from './reply-method.js';

/** A lifecycle event as published on `adm.evt.<node>.<event>`. */
export interface NodeEvent {
  readonly node: string;
  readonly publicKey: string;
  readonly central: boolean;
  readonly version: string;
  /** Unix ms. */
  readonly at: number;
  /** This process's run of the node: an offline event speaks only for the run that sent it. */
  readonly instance?: string;
  /** Extra fields from extensions (facts), on hello events. */
  readonly [field: string]: unknown;
}

export const SOCKET_FILE = 'admiral.sock';

/** How long `close()` lets the broker connection drain before it closes it anyway. */
const DRAIN_TIMEOUT_MS = 2000;

/**
 * The node daemon (DESIGN.md, "Roles"): connects outbound to the broker, receives messages for
 * itself into its inbox, runs them, and sends what it is given through its outbox, durably.
 */
export class AdmiralNode {
  readonly options: NodeOptions;
  readonly identity: Identity;
  readonly store: Store;
  readonly subjects: Subjects;
  readonly trust: FileTrustStore;
  readonly registry: MethodRegistry;
  readonly metrics: NodeMetrics;
  readonly publisher: Publisher;
  readonly receiver: Receiver;
  /** The key each node name is known by (node-keys.ts). */
  readonly nodeKeys: NodeKeys;
  readonly executor: Executor;
  readonly inputs: Input[] = [];
  /** What methods and extensions may ask of this node. */
  readonly services: NodeServices;
  httpServer: RunningHttpServer | undefined;
  #nc: NatsConnection | undefined;
  readonly #subs: Subscription[] = [];
  /** The subscription to messages addressed to this node, while it takes them. */
  #inbound: Subscription | undefined;
  /** What settled replies' ACKs wait for (NodeContext.holdReplies). */
  readonly #replyHolds = new Set<(requests: readonly string[]) => Promise<void> | undefined>();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #startedAt = Date.now();
  readonly #started: NonNullable<NodeOptions['extensions']>[number][] = [];
  /** Methods whose subscriber REQOpProcessStop stopped; refused until REQOpProcessStart. */
  readonly #stoppedMethods = new Set<string>();
  #closed = false;
  readonly #instance = randomUUID();
  #onRefused: (reason: string) => void = () => undefined;
  /**
   * Resolves with central's reason when central refuses this node's events: its name is held by
   * another key (a second node started under a name already taken). Never rejects.
   */
  readonly refused = new Promise<string>((resolve) => {
    this.#onRefused = resolve;
  });

  private constructor(options: NodeOptions, identity: Identity) {
    this.options = options;
    this.identity = identity;
    this.subjects = new Subjects(options.subjectPrefix);
    this.store = openStore({
      dataDir: options.dataDir,
      ...(options.store && {
        synchronous: options.store.synchronous,
        busyTimeoutMs: options.store.busyTimeoutMs,
        auditFsync: options.store.auditFsync,
      }),
    });
    this.trust = new FileTrustStore(join(options.dataDir, 'trust.json'));
    this.registry = createMethodRegistry([
      ...METHOD_HANDLERS,
      ...(options.extensions ?? []).flatMap((e) => e.methods ?? []),
    ]);
    const depth = (): Record<string, number> =>
      Object.fromEntries(this.store.outbox.depthByTarget());
    this.metrics = new NodeMetrics(options.name, depth);
    this.services = {
      nodeName: options.name,
      publicKey: identity.publicKey,
      submit: (messages, submitOptions) => {
        const r = this.submit(JSON.stringify(messages), 'method', submitOptions?.idFor);
        return {
          accepted: [...r.accepted],
          rejected: r.rejected.map((x) => ({ index: x.index, errors: [...x.errors] })),
        };
      },
      running: () => this.executor.running(),
      cancel: (id) => this.executor.cancel(id),
      status: (id) => {
        const rec = this.store.outbox.get(id);
        if (!rec) return undefined;
        return {
          state: rec.state,
          ...(rec.error !== null && { error: rec.error }),
          ...(rec.result !== null && { result: rec.result }),
        };
      },
      methods: () => this.registry.names(),
      stoppedMethods: () => [...this.#stoppedMethods].sort(),
      setMethodStopped: (method, stopped) => {
        if (stopped) this.#stoppedMethods.add(method);
        else this.#stoppedMethods.delete(method);
      },
      publishers: () =>
        [...this.store.outbox.depthByTarget()].map(([toNode, pending]) => ({ toNode, pending })),
      bulk: createBulkTransport(() => this.#nc, this.subjects, options.log),
    };
    const policy = new Policy(
      identity.publicKey,
      this.trust,
      this.store.outbox,
      options.trustedKeys ?? [],
      (method) => this.#stoppedMethods.has(method),
    );
    this.publisher = new Publisher({
      store: this.store,
      subjects: this.subjects,
      connection: () => this.#nc,
      completesOnAck: (method, kind) =>
        kind === 'reply' ||
        (this.registry.has(method) && this.registry.get(method).kind === 'event'),
      backoff: options.backoff,
      metrics: this.metrics,
      log: options.log,
      onTerminal: (id, state, error) => this.#onSentTerminal(id, state, error),
    });
    this.executor = new Executor({
      nodeName: options.name,
      dataDir: options.dataDir,
      store: this.store,
      registry: this.registry,
      identity,
      compression: options.compression,
      defaults: options.defaults,
      limits: options.limits,
      maxConcurrent: options.maxConcurrent,
      ...(options.maxTtlMs !== undefined && { maxTtlMs: options.maxTtlMs }),
      log: options.log,
      onEnqueued: () => this.publisher.wake(),
      onFinished: (id, state) => {
        const method = this.store.outbox.methodOf(id);
        if (method !== undefined) this.metrics.messages.inc({ method, state });
      },
      console: (line) => options.log('info', line, { console: true }),
      services: () => this.services,
      holdSettled: (requests) => {
        if (this.#replyHolds.size === 0) return undefined;
        const held = [...this.#replyHolds].flatMap((hook) => hook(requests) ?? []);
        return held.length === 0 ? undefined : Promise.all(held).then(() => undefined);
      },
    });
    this.nodeKeys = new NodeKeys(this.store.database.db, {
      self: { name: options.name, publicKey: identity.publicKey },
      central: () => {
        if (options.isCentral) return undefined;
        const pinned = this.trust.list().find((k) => k.label === `central ${options.central}`);
        return pinned && { name: options.central, publicKey: pinned.publicKey };
      },
    });
    this.receiver = new Receiver({
      nodeName: options.name,
      nodeKeys: this.nodeKeys,
      ...(options.maxClockSkewMs !== undefined && { maxClockSkewMs: options.maxClockSkewMs }),
      ...(options.maxTtlMs !== undefined && { maxTtlMs: options.maxTtlMs }),
      store: this.store,
      registry: this.registry,
      policy,
      log: options.log,
      verifier: signatureVerifier,
      onStored: (messages) => this.executor.received(messages),
      settler: this.executor,
      onRejected: (refused, reason) => {
        options.log('warn', 'message rejected', {
          ...(refused.id !== undefined && { id: refused.id }),
          ...(refused.fromNode !== undefined && { from: refused.fromNode }),
          ...(refused.method !== undefined && { method: refused.method }),
          ...(refused.signer !== undefined && { signer: refused.signer }),
          reason,
        });
        // An error line about a refused error line could loop between two nodes.
        if (refused.method !== 'REQErrorLog') {
          this.reportError({
            method: refused.method ?? 'unknown',
            messageId: refused.id ?? 'unknown',
            ...(refused.fromNode !== undefined && { fromNode: refused.fromNode }),
            reason: `rejected: ${reason}`,
          });
        }
      },
    });
  }

  /** Starts a node: store, identity, broker connection, subscriptions, inputs. */
  static async start(options: NodeOptions): Promise<AdmiralNode> {
    mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
    const identity = await loadOrCreateIdentity(join(options.dataDir, 'identity.seed'));
    const node = new AdmiralNode(options, identity);
    try {
      await node.#start();
    } catch (err) {
      await node.close();
      throw err;
    }
    return node;
  }

  get connected(): boolean {
    return this.#nc !== undefined && !this.#nc.isClosed();
  }

  /** Broker URL while connected. */
  get connectedServer(): string | null {
    return this.#nc?.getServer() ?? null;
  }

  async #start(): Promise<void> {
    const { options } = this;
    // What a previous process left running: recover its result or report it interrupted.
    const leftRunning = this.store.inbox.running();
    await this.#startInputs();
    // A node joining a remote fleet enrols first; it then speaks with its own key and inbox.
    const broker = options.join
      ? await joinFleet({
          name: options.name,
          dataDir: options.dataDir,
          central: options.central,
          identity: this.identity,
          subjects: this.subjects,
          trust: this.trust,
          broker: options.broker,
          join: options.join,
          log: options.log,
        })
      : options.broker;
    this.#nc = await connectToBroker(broker, {
      name: `admiral:${options.name}`,
      persistent: true,
      ...(options.connect && {
        timeout: options.connect.timeoutMs,
        reconnectWaitMs: options.connect.reconnectWaitMs,
        reconnectJitterMs: options.connect.reconnectJitterMs,
        reconnectJitterTlsMs: options.connect.reconnectJitterTlsMs,
      }),
      // Its own reply inboxes (`_INBOX_<node>`), so a broker can confine each node to its own
      // (enrolment; `admiral keys nats-user` for nats-server).
      inboxPrefix: nodeInboxPrefix(options.name),
    });
    this.metrics.brokerConnected.set({}, 1);
    await this.#learnCentralKey(this.#nc);
    this.#subscribe(this.#nc);
    void this.#watchStatus(this.#nc);
    this.#publishEvent('online');
    this.publisher.start();
    const ctx: NodeContext = {
      options,
      nc: this.#nc,
      subjects: this.subjects,
      store: this.store,
      identity: this.identity,
      services: this.services,
      metrics: this.metrics,
      nodeKeys: this.nodeKeys,
      reportError: (fields) => this.reportError(fields),
      receive: (on) => this.#receive(on),
      holdReplies: (hook) => {
        this.#replyHolds.add(hook);
        return () => this.#replyHolds.delete(hook);
      },
    };
    for (const ext of options.extensions ?? []) {
      await ext.start(ctx);
      this.#started.push(ext);
    }
    // Recovery may wait for long commands that outlived the last process: it runs alongside.
    void this.executor.recover(leftRunning);
    this.executor.wake();
    this.#publishEvent('hello');
    if (options.helloIntervalMs > 0) {
      const t = setInterval(() => this.#publishEvent('hello'), options.helloIntervalMs);
      t.unref();
      this.#timers.push(t);
    }
    if (options.statusFile) {
      const { path, intervalMs } = options.statusFile;
      this.#writeStatus(path);
      const t = setInterval(() => this.#writeStatus(path), intervalMs);
      t.unref();
      this.#timers.push(t);
    }
    this.#sweep();
    const purge = setInterval(() => {
      this.purgeInbox();
      this.#sweep();
    }, 60_000);
    purge.unref();
    this.#timers.push(purge);
  }

  /**
   * Forgets inbox ids whose replay window has passed: a row's (capped) expiry plus the allowed
   * clock skew, plus the keep-after-expiry margin. Past it a replay is refused as expired.
   */
  purgeInbox(now = Date.now()): number {
    const skew = this.options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    const keep = this.options.store?.inboxKeepAfterExpiryMs ?? 0;
    return this.store.inbox.purgeExpired(now, skew + keep);
  }

  /**
   * Drops what crashes leave behind: copy transfers nobody finished or resumed (a crash or a lost
   * source), and run directories of commands whose result was committed just before a crash.
   */
  #sweep(): void {
    const { dataDir, log } = this.options;
    sweepStaleTransfers(dataDir).then(
      (ids) => {
        if (ids.length > 0) log('info', 'dropped copy transfers idle too long', { transfers: ids });
      },
      (err: unknown) => log('warn', 'cannot sweep copy transfers', { error: String(err) }),
    );
    sweepSettledRuns(dataDir, (id) => this.store.inbox.get(id)?.state).then(
      (ids) => {
        if (ids.length > 0) log('info', 'removed run directories of settled commands', { ids });
      },
      (err: unknown) => log('warn', 'cannot sweep run directories', { error: String(err) }),
    );
  }

  async #startInputs(): Promise<void> {
    const { options } = this;
    // Async, so that whatever `submit` throws reaches each input as a rejected promise.
    const submit = async (raw: Buffer, source: string): Promise<SubmitResult> =>
      this.submit(raw, source);
    if (options.inputs.socket) {
      this.inputs.push(await startSocketInput(join(options.dataDir, SOCKET_FILE), submit));
    }
    if (options.inputs.tcpListen) {
      const { host, port } = parseHostPort(options.inputs.tcpListen, 'inputs.tcpListen');
      // Steward's TCP input has no authentication (`nc host port < msg.json`), and what it takes
      // is signed with this node's key: only processes on this machine may reach it.
      if (!isLoopbackHost(host)) {
        throw new Error(
          `Expected \`inputs.tcpListen\` to be a loopback address (127.0.0.1:PORT), got ${JSON.stringify(options.inputs.tcpListen)}: whoever can connect sends messages signed by this node; use the broker, or the HTTP input with its bearer token, from other machines`,
        );
      }
      this.inputs.push(await startTcpInput(host, port, submit));
    }
    if (options.inputs.watchFolder) {
      this.inputs.push(await startFolderInput(options.inputs.watchFolder, submit));
    }
    const routes = [];
    if (options.inputs.httpListen) {
      routes.push(messagesRoute(submit, options.httpToken ?? apiToken(options.dataDir)));
      for (const ext of options.extensions ?? []) routes.push(...(ext.routes ?? []));
    }
    if (options.metricsListen && options.metricsListen === options.inputs.httpListen)
      routes.push(this.metrics.route());
    if (routes.length > 0 && options.inputs.httpListen) {
      const { host, port } = parseHostPort(options.inputs.httpListen, 'inputs.httpListen');
      this.httpServer = await startHttpServer(host, port, routes);
    }
    if (options.metricsListen && options.metricsListen !== options.inputs.httpListen) {
      const { host, port } = parseHostPort(options.metricsListen, 'metricsListen');
      const server = await startHttpServer(host, port, [this.metrics.route()]);
      this.inputs.push({ name: 'metrics', address: server.url, close: () => server.close() });
    }
  }

  /** Subscribes to the messages addressed to this node, or ends that subscription. */
  #receive(on: boolean): void {
    const nc = this.#nc;
    if (!on || nc === undefined || nc.isClosed()) {
      this.#inbound?.unsubscribe();
      this.#inbound = undefined;
      return;
    }
    if (this.#inbound !== undefined) return;
    const { subjects, options } = this;
    this.#inbound = nc.subscribe(subjects.nodeSubscription(options.name), {
      callback: (err, msg) => {
        if (err) return;
        try {
          this.receiver.handle(msg);
        } catch (e) {
          options.log('error', 'failed to receive a message', { error: String(e) });
        }
      },
    });
    // Those holding messages for this node (a standby that now leads) send them at once.
    if (options.deferReceiving === true) this.#publishEvent('online');
  }

  #subscribe(nc: NatsConnection): void {
    const { subjects, options } = this;
    if (options.deferReceiving !== true) this.#receive(true);
    this.#subs.push(
      nc.subscribe(subjects.key(options.name), {
        callback: (err, msg) => {
          if (err) return;
          const key = subjects.key(options.name);
          msg.respond(JSON.stringify(signEvent(key, this.#event(), this.identity)));
        },
      }),
    );
    if (!options.isCentral) {
      const refused = subjects.event(options.name, 'refused');
      this.#subs.push(
        nc.subscribe(refused, {
          callback: guarded(options.log, 'refused events', (msg) => this.#observeRefused(msg.data)),
        }),
      );
    }
    this.#subs.push(
      nc.subscribe(subjects.eventSubscription(undefined, 'online'), {
        callback: guarded(options.log, 'online events', (msg) => {
          const event = parseEvent(msg.data);
          if (event) this.#observeOnline(event);
        }),
      }),
    );
  }

  #centralPinned(): boolean {
    return this.trust.list().some((k) => k.label === `central ${this.options.central}`);
  }

  /** Trust on first use: ask the central for its key before taking messages (local fleets). */
  async #learnCentralKey(nc: NatsConnection): Promise<void> {
    const { options } = this;
    if (!options.trustCentralOnFirstUse || options.isCentral || this.#centralPinned()) return;
    try {
      const reply = await nc.request(this.subjects.key(options.central), undefined, {
        timeout: 2000,
      });
      const event = parseEvent(reply.data);
      if (event) this.#observeOnline(event);
    } catch {
      // The central is not up yet: its online event will carry its key.
    }
  }

  /** Central's refusal, taken only when it names this node's key and is signed by central's. */
  #observeRefused(data: Uint8Array): void {
    const body = parseEvent(data);
    const central = this.trust.list().find((k) => k.label === `central ${this.options.central}`);
    if (body === undefined || central === undefined || body.publicKey !== this.identity.publicKey) {
      return;
    }
    const subject = this.subjects.event(this.options.name, 'refused');
    if (!isEventSignedBy(subject, body, central.publicKey)) return;
    // Fresh only: a refusal recorded once and replayed later must not stop this node.
    const skew = this.options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    if (typeof body.at !== 'number' || Math.abs(Date.now() - body.at) > skew) return;
    this.#onRefused(typeof body.reason === 'string' ? body.reason : 'no reason given');
  }

  #observeOnline(event: NodeEvent): void {
    const { options } = this;
    // Trust on first use of the central's key, for local fleets; a remote fleet pins it at enrolment.
    if (
      options.trustCentralOnFirstUse &&
      event.node === options.central &&
      event.central &&
      event.publicKey !== this.identity.publicKey &&
      !this.#centralPinned()
    ) {
      this.trust.add(event.publicKey, `central ${options.central}`);
      options.log('info', 'trusting the central key on first use', {
        central: event.node,
        key: event.publicKey,
      });
    }
    if (event.node !== options.name) this.publisher.nodeOnline(event.node);
  }

  async #watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.metrics.brokerConnected.set({}, 0);
        this.options.log('warn', 'disconnected from the broker', { server: s.server });
      } else if (s.type === 'reconnect') {
        this.metrics.brokerConnected.set({}, 1);
        this.options.log('info', 'reconnected to the broker', { server: s.server });
        this.#publishEvent('online');
        this.publisher.wake();
      }
    }
  }

  #publishEvent(event: 'online' | 'offline' | 'hello'): void {
    const nc = this.#nc;
    if (!nc || nc.isClosed()) return;
    const body: Record<string, unknown> = { ...this.#event() };
    if (event === 'hello') {
      for (const ext of this.options.extensions ?? []) Object.assign(body, ext.hello?.());
    }
    const subject = this.subjects.event(this.options.name, event);
    nc.publish(subject, JSON.stringify(signEvent(subject, body, this.identity)));
  }

  #event(): NodeEvent {
    return {
      node: this.options.name,
      publicKey: this.identity.publicKey,
      central: this.options.isCentral,
      version: VERSION,
      at: Date.now(),
      instance: this.#instance,
    };
  }

  #writeStatus(path: string): void {
    try {
      const counts = this.store.outbox.counts();
      writeStatusFile(path, {
        identity: this.options.name,
        version: VERSION,
        uptime: Math.round((Date.now() - this.#startedAt) / 1000),
        connectedServer: this.connected ? this.connectedServer : null,
        lastMessage:
          this.receiver.lastMessageAt === null
            ? null
            : Math.floor(this.receiver.lastMessageAt / 1000),
        updated: Math.floor(Date.now() / 1000),
        stats: {
          received: this.receiver.received,
          rejected: this.receiver.rejected,
          executed: this.executor.executed,
          sent: this.publisher.sent,
          outboxPending: counts.pending,
        },
      });
    } catch (err) {
      this.options.log('warn', 'cannot write the status file', { path, error: String(err) });
    }
  }

  /**
   * The latest a result of `msg` can arrive: the target may store it until it expires (plus the
   * clock skew it tolerates), run it for methodTimeout, and retry the reply for the reply's own
   * time to live (the request's window); twice that window, for a reply that comes back through a
   * relay. Past it the request ends `expired` instead of waiting in `delivered` forever.
   */
  #answerBy(msg: Message): number {
    const window = cappedExpiry(msg, this.options.maxTtlMs) - msg.createdAt;
    const methodTimeoutMs = (msg.methodTimeout ?? this.options.defaults.methodTimeout) * 1000;
    const skew = this.options.maxClockSkewMs ?? DEFAULT_MAX_CLOCK_SKEW_MS;
    return msg.createdAt + window + skew + methodTimeoutMs + 2 * window;
  }

  /** How this node completes what it is given to send: its name, default and maximum ttl. */
  #completion(): CompletionContext {
    const { name, defaults, maxTtlMs } = this.options;
    return {
      fromNode: name,
      defaultTtlSeconds: defaults.ttl,
      ...(maxTtlMs !== undefined && { maxTtlSeconds: maxTtlMs / 1000 }),
    };
  }

  /**
   * Takes operator input (a JSON array or object, or YAML, as Steward's socket does): validates
   * each message, signs it and commits it to the outbox. Answers with the ids accepted, the errors
   * for what was rejected, and the ids already in the outbox (a batch sent again) with their
   * state; one bad message never stops the others, and no input makes it throw.
   */
  submit(raw: Buffer | string, source = 'api', idFor?: CompletionContext['idFor']): SubmitResult {
    const { options } = this;
    let parsed: ReturnType<typeof parseInput>;
    try {
      parsed = parseInput(raw, { ...this.#completion(), ...(idFor && { idFor }) });
    } catch (err) {
      const reason =
        err instanceof InputSyntaxError || err instanceof InputLimitError
          ? err.message
          : `cannot read input: ${String(err)}`;
      return { accepted: [], rejected: [{ index: 0, errors: [reason] }], duplicates: [] };
    }
    if (parsed.rejected.length > 0) {
      options.log('warn', 'input rejected', { source, rejected: parsed.rejected });
    }
    try {
      const { ids, duplicates } = this.#enqueue(parsed.accepted);
      return { accepted: ids, rejected: parsed.rejected, duplicates };
    } catch (err) {
      // One transaction: nothing of this input was committed, so nothing of it is accepted.
      options.log('error', 'cannot sign or store input', { source, error: String(err) });
      const reason = `nothing was sent: cannot sign or store the messages: ${String(err)}`;
      return { accepted: [], rejected: [{ index: 0, errors: [reason] }], duplicates: [] };
    }
  }

  /** Signs complete messages and commits them to the outbox in one transaction; returns their ids. */
  send(submitted: readonly Message[]): string[] {
    return this.#enqueue(submitted).ids;
  }

  /** `send`, also naming the messages whose id the outbox already held, with their state. */
  #enqueue(submitted: readonly Message[]): {
    ids: string[];
    duplicates: { id: string; state: string }[];
  } {
    const { options } = this;
    // Steward's relay step 1: a message with relayViaNode goes to that node as REQRelay.
    const messages = submitted.map((msg) => wrapForRelay(msg, options.name));
    // One signature per batch of messages (a fleet job's thousands), each with its Merkle path.
    const envelopes = signMessages(messages, this.identity);
    const records = messages.map((msg, i) => ({
      id: msg.id,
      // A message that answers another (a reply forwarded by a relay) completes on its ACK.
      kind: msg.inReplyTo === undefined ? ('request' as const) : ('reply' as const),
      toNode: msg.toNode ?? '',
      method: msg.method,
      envelope: encodeEnvelope(envelopes[i] as Envelope, options.compression),
      expiresAt: msg.expiresAt,
      ackTimeoutMs: (msg.ACKTimeout ?? options.defaults.ACKTimeout) * 1000,
      maxRetries: msg.retries ?? -1,
      createdAt: msg.createdAt,
      ...(msg.inReplyTo === undefined && { answerBy: this.#answerBy(msg) }),
      expectedReply: expectedReplyOf(msg),
    }));
    const ids = this.store.outbox.enqueueMany(records);
    // The first copy of each new id was enqueued; every other copy is a duplicate.
    const unclaimed = new Set(ids);
    const enqueued: Message[] = [];
    const duplicates: { id: string; state: string }[] = [];
    for (const msg of messages) {
      if (unclaimed.delete(msg.id)) enqueued.push(msg);
      else
        duplicates.push({ id: msg.id, state: this.store.outbox.get(msg.id)?.state ?? 'unknown' });
    }
    const at = Date.now();
    // One write(2) for the batch (a 10,000-node job made 10,000 of them).
    this.store.audit.appendMany(
      enqueued.map((msg) => ({
        at,
        direction: 'out' as const,
        event: 'enqueued',
        id: msg.id,
        kind: msg.inReplyTo === undefined ? ('request' as const) : ('reply' as const),
        fromNode: msg.fromNode,
        toNode: msg.toNode ?? '',
        method: msg.method,
        message: msg,
      })),
    );
    this.publisher.wake();
    return { ids, duplicates };
  }

  /** Sends an error line to the central's error log (REQErrorLog), durably. */
  reportError(fields: ErrorLine): void {
    const now = Date.now();
    const result = parseInput(
      JSON.stringify({
        toNode: this.options.central,
        method: 'REQErrorLog',
        data: [
          JSON.stringify({ time: new Date(now).toISOString(), node: this.options.name, ...fields }),
        ],
      }),
      { ...this.#completion(), now },
    );
    if (result.accepted.length > 0) this.send(result.accepted);
  }

  #onSentTerminal(id: string, state: string, error?: string): void {
    if (state === 'completed') return;
    const rec = this.store.outbox.get(id);
    if (!rec || rec.method === 'REQErrorLog') return;
    this.reportError({
      method: rec.method,
      messageId: id,
      toNode: rec.toNode,
      fromNode: this.options.name,
      reason: `${state}: ${error ?? ''}`,
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    this.publisher.stop();
    this.executor.stop();
    for (const ext of this.#started.reverse()) {
      await ext.stop().catch((err: unknown) =>
        this.options.log('warn', 'extension did not stop cleanly', {
          extension: ext.name,
          error: String(err),
        }),
      );
    }
    for (const input of this.inputs) await input.close().catch(() => undefined);
    await this.httpServer?.close();
    const nc = this.#nc;
    if (nc && !nc.isClosed()) {
      this.#publishEvent('offline');
      // drain() flushes, and a flush waits for the broker: with the broker down (a fleet stopped
      // all at once, an outage) it would wait for a reconnect that may never come. What is not
      // drained by then is in the outbox and the inbox, not lost.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        nc.drain().catch(() => undefined),
        new Promise((r) => {
          timer = setTimeout(r, DRAIN_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    }
    this.store.close();
  }
}

function parseEvent(data: Uint8Array): NodeEvent | undefined {
  try {
    const v = JSON.parse(Buffer.from(data).toString('utf8')) as Partial<NodeEvent>;
    if (typeof v.node === 'string' && typeof v.publicKey === 'string') return v as NodeEvent;
  } catch {
    // not an event of ours
  }
  return undefined;
}
