import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type * as z from 'zod';
import { isLoopbackHost } from '../broker/loopback.js';
import type { Config } from '../config/schema.js';
import type { NodeContext, NodeExtension } from '../node/extension.js';
import type { Logger } from '../observability/logger.js';
import { InputLimitError, parseJsonBytes } from '../protocol/index.js';
import { openBucket } from '../store/jetstream/buckets.js';
import { KvRegistryState } from '../store/jetstream/registry.js';
import type { RegistryState } from '../store/registry-state.js';
import { ServiceStore, sqliteRegistryState } from '../store/services.js';
import { type AccessKeyRules, AccessKeys } from './access-keys.js';
import { scheduleBackups } from './backups.js';
import { DiscoveryResponder } from './discovery.js';
import { BadRequestError } from './errors.js';
import { type ExtensionLimits, parseMethod, runExtension } from './extensions.js';
import type { CentralState, Leadership } from './leadership.js';
import { Registry } from './registry.js';
import { Semaphore } from './semaphore.js';
import {
  CENTRAL_SERVICES,
  type CentralReply,
  ExecuteRequestSchema,
  PingRequestSchema,
  type ServiceRequest,
  ServiceRequestSchema,
} from './wire.js';

// bpbroker's services on the central (issue "Broker services"): ping echo, the durable key/value
// service registry with scheduled backups, access keys, server-side extensions, and the UDP
// discovery responder. Requests arrive as plain NATS request/reply on `adm.central.<service>`.

/** Resolved settings of the broker services (see `brokerServicesOptions`). */
export interface BrokerServicesOptions {
  readonly backups: { readonly dir: string; readonly freqSecs: number; readonly retain: number };
  readonly extensions: ExtensionLimits & { readonly dir: string; readonly maxConcurrent: number };
  readonly discovery:
    | {
        readonly host: string;
        readonly alsoHear: readonly string[];
        readonly port: number;
        readonly ratePerSource: number;
      }
    | undefined;
  readonly accessKeys: AccessKeyRules;
  /** Where the registry lives: the node's SQLite database, or JetStream KV shared by centrals. */
  readonly state: CentralState;
}

/** Every central answers on this queue group: one of them handles each request. */
export const CENTRAL_QUEUE = 'admiral-central';

/** Maps the validated config onto the broker services' options; paths resolve under the data dir. */
export function brokerServicesOptions(config: Config): BrokerServicesOptions {
  const dataDir = resolvePath(config.dataDir);
  const inData = (p: string | undefined, def: string): string =>
    p === undefined ? join(dataDir, def) : isAbsolute(p) ? p : join(dataDir, p);
  const c = config.central;
  const discoveryHost = c.discovery.listen ?? defaultDiscoveryHost(config.broker.url);
  return {
    backups: {
      dir: inData(c.registry.backupDir, 'backups'),
      freqSecs: c.registry.backupFreqSecs,
      retain: c.registry.backupRetainN,
    },
    extensions: {
      dir: inData(c.extensions.dir, 'extensions'),
      timeoutMs: c.extensions.timeout * 1000,
      maxMemoryMb: c.extensions.maxMemoryMb,
      maxConcurrent: c.extensions.maxConcurrent,
    },
    discovery: c.discovery.enabled
      ? {
          host: discoveryHost,
          // Local mode: a broadcast on loopback reaches the responder too.
          alsoHear:
            c.discovery.listen === undefined && discoveryHost === '127.0.0.1'
              ? [LOOPBACK_BROADCAST]
              : [],
          port: c.discovery.port,
          ratePerSource: c.discovery.ratePerSource,
        }
      : undefined,
    accessKeys: c.accessKeys,
    state:
      c.state.backend === 'jetstream'
        ? {
            backend: 'jetstream',
            replicas: c.state.replicas,
            prefix: c.state.bucketPrefix,
            ...(c.state.instance !== undefined && { instance: c.state.instance }),
          }
        : { backend: 'sqlite' },
  };
}

/** Opens the registry's state where the options say it lives. */
async function openRegistryState(options: CentralState, ctx: NodeContext): Promise<RegistryState> {
  if (options.backend === 'sqlite') {
    return sqliteRegistryState(new ServiceStore(ctx.store.database.db));
  }
  return new KvRegistryState(await openBucket(ctx.nc, 'registry', options));
}

/** The broadcast address of 127.0.0.0/8, heard too by a local-mode responder. */
export const LOOPBACK_BROADCAST = '127.255.255.255';

/**
 * Where discovery listens when `central.discovery.listen` is not set: every interface, unless every
 * broker URL the central uses is on loopback (local mode, `admiral up` without `--listen`): then no
 * other machine could use the answer, so the responder stays on 127.0.0.1 too.
 */
export function defaultDiscoveryHost(brokerUrls: string): string {
  const hosts = brokerUrls.split(',').map((u) => {
    try {
      return new URL(u.includes('://') ? u.trim() : `nats://${u.trim()}`).hostname;
    } catch {
      return '';
    }
  });
  return hosts.every((h) => h !== '' && isLoopbackHost(h)) ? '127.0.0.1' : '0.0.0.0';
}

function parse<S extends z.ZodType>(schema: S, data: Uint8Array): z.output<S> {
  let json: unknown;
  try {
    json = parseJsonBytes(data, 'request');
  } catch (err) {
    if (err instanceof InputLimitError) throw new BadRequestError(err.message, { cause: err });
    throw new BadRequestError('request is not JSON');
  }
  const r = schema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new BadRequestError(
      `bad request: ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return r.data;
}

function failure(err: unknown): CentralReply {
  const code =
    typeof (err as { code?: unknown }).code === 'string'
      ? (err as { code: string }).code
      : 'ADMIRAL_INTERNAL';
  return { ok: false, code, error: err instanceof Error ? err.message : String(err) };
}

export class BrokerServices implements NodeExtension {
  readonly name = 'broker-services';
  readonly #options: BrokerServicesOptions;
  readonly #access: AccessKeys;
  readonly #subs: Subscription[] = [];
  #registry: Registry | undefined;
  #stopBackups: () => void = () => undefined;
  #discovery: DiscoveryResponder | undefined;
  #log: Logger = () => undefined;
  readonly #slots: Semaphore;

  readonly #leadership: Leadership;

  constructor(options: BrokerServicesOptions, leadership: Leadership) {
    this.#options = options;
    this.#leadership = leadership;
    this.#access = new AccessKeys(options.accessKeys);
    this.#slots = new Semaphore(options.extensions.maxConcurrent);
  }

  /** The registry, once started. */
  get registry(): Registry | undefined {
    return this.#registry;
  }

  /** The discovery responder, once started (undefined when off or its port was taken). */
  get discovery(): DiscoveryResponder | undefined {
    return this.#discovery;
  }

  async start(ctx: NodeContext): Promise<void> {
    this.#log = ctx.options.log;
    const registry = new Registry(await openRegistryState(this.#options.state, ctx));
    this.#registry = registry;
    const { nc, subjects } = ctx;
    this.#serve(nc, subjects.central(CENTRAL_SERVICES.ping), (data) => {
      return parse(PingRequestSchema, data).data;
    });
    this.#serve(nc, subjects.central(CENTRAL_SERVICES.service), (data) =>
      this.#service(registry, parse(ServiceRequestSchema, data)),
    );
    this.#serve(nc, subjects.central(CENTRAL_SERVICES.execute), (data) => this.#execute(data));
    this.#serve(nc, subjects.central(CENTRAL_SERVICES.leader), () => this.#leadership.view());
    const b = this.#options.backups;
    this.#stopBackups = scheduleBackups({
      store: registry.store,
      dir: b.dir,
      freqSecs: b.freqSecs,
      retain: b.retain,
      log: this.#log,
    });
    const d = this.#options.discovery;
    if (d !== undefined) {
      try {
        this.#discovery = await DiscoveryResponder.start({
          host: d.host,
          alsoHear: d.alsoHear,
          port: d.port,
          ratePerSource: d.ratePerSource,
          node: ctx.options.name,
          identity: ctx.identity,
          has: (name) => registry.has(name),
          log: this.#log,
        });
        this.#log('info', 'discovery responder listening', {
          host: [d.host, ...d.alsoHear].join(','),
          port: this.#discovery.port,
        });
      } catch (err) {
        // Another central (or program) holds the port: the node still serves everything else.
        this.#log('warn', 'discovery responder is off: cannot bind its UDP port', {
          host: d.host,
          port: d.port,
          error: String(err),
        });
      }
    }
  }

  #serve(
    nc: NatsConnection,
    subject: string,
    handle: (data: Uint8Array) => unknown | Promise<unknown>,
  ): void {
    const respond = (msg: Msg, reply: CentralReply): void => {
      if (!msg.reply) return;
      const max = nc.info?.max_payload ?? 1024 * 1024;
      try {
        const body = JSON.stringify(reply);
        if (Buffer.byteLength(body) > max) {
          msg.respond(
            JSON.stringify(
              failure(new BadRequestError(`the answer is larger than the broker's ${max} bytes`)),
            ),
          );
          return;
        }
        msg.respond(body);
      } catch (err) {
        // The connection closed under us: the caller times out; the central carries on.
        this.#log('warn', 'cannot answer a request', { subject, error: String(err) });
      }
    };
    this.#subs.push(
      nc.subscribe(subject, {
        // Centrals sharing their state on JetStream all serve; one answers each request.
        queue: CENTRAL_QUEUE,
        callback: (err, msg) => {
          if (err) return;
          let pending: unknown;
          try {
            pending = handle(msg.data);
          } catch (e) {
            respond(msg, failure(e));
            return;
          }
          void Promise.resolve(pending).then(
            (result) => respond(msg, { ok: true, result: result ?? null }),
            (e: unknown) => respond(msg, failure(e)),
          );
        },
      }),
    );
  }

  async #service(registry: Registry, req: ServiceRequest): Promise<unknown> {
    const writer = { ip: req.clientIp ?? '' };
    if (req.op === 'list') {
      // Only the names the caller's key opens: the list says nothing about the others.
      return (await registry.list()).filter((e) =>
        this.#access.allowsService(e.name, req.accessKey),
      );
    }
    this.#access.checkService(req.name, req.accessKey);
    switch (req.op) {
      case 'register':
        return registry.register(req.name, req.data, writer);
      case 'replace':
        return registry.replace(req.name, req.data, writer);
      case 'update':
        return registry.update(req.name, req.data, writer);
      case 'get':
        return registry.get(req.name);
      case 'delete':
        await registry.delete(req.name);
        return null;
    }
  }

  async #execute(data: Uint8Array): Promise<unknown> {
    const req = parse(ExecuteRequestSchema, data);
    const { module } = parseMethod(req.method);
    // The key is checked before the module is looked up: a refusal says nothing of what exists.
    this.#access.checkExtension(module, req.accessKey);
    const { dir, timeoutMs, maxMemoryMb } = this.#options.extensions;
    const release = await this.#slots.acquire();
    try {
      return await runExtension(
        dir,
        req.method,
        req.data,
        { method: req.method, clientIp: req.clientIp ?? '' },
        { timeoutMs, maxMemoryMb },
      );
    } catch (err) {
      this.#log('warn', 'extension call failed', { method: req.method, error: String(err) });
      throw err;
    } finally {
      release();
    }
  }

  async stop(): Promise<void> {
    this.#stopBackups();
    for (const s of this.#subs) s.unsubscribe();
    this.#subs.length = 0;
    await this.#discovery?.close();
  }
}
