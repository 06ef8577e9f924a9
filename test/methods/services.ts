// A NodeServices for method tests: records what a method submits, answers status() from a map the
// test (or a loopback) fills, and keeps a list of running methods and stopped subscribers.

import type {
  BulkTransport,
  NodeServices,
  RunningMethod,
  SentStatus,
} from '../../src/methods/types.js';
import { newMessageId } from '../../src/protocol/id.js';

export interface FakeServices extends NodeServices {
  readonly submitted: { id: string; message: Record<string, unknown> }[];
  readonly statuses: Map<string, SentStatus>;
  readonly runningList: RunningMethod[];
  readonly cancelled: string[];
  readonly stopped: Set<string>;
  /** Called for each submitted message (after it is recorded); may settle its status. */
  onSubmit?: (id: string, message: Record<string, unknown>) => void;
}

export function fakeServices(
  nodeName = 'ship1',
  methods: readonly string[] = [],
  bulk?: BulkTransport,
): FakeServices {
  const services: FakeServices = {
    nodeName,
    ...(bulk && { bulk }),
    publicKey: 'UTEST',
    submitted: [],
    statuses: new Map(),
    runningList: [],
    cancelled: [],
    stopped: new Set(),
    submit(messages) {
      const accepted: string[] = [];
      for (const message of messages) {
        const id = typeof message['id'] === 'string' ? message['id'] : newMessageId();
        services.submitted.push({ id, message });
        services.statuses.set(id, { state: 'pending' });
        accepted.push(id);
        services.onSubmit?.(id, message);
      }
      return { accepted, rejected: [] };
    },
    running: () => [...services.runningList],
    cancel(id) {
      const i = services.runningList.findIndex((r) => r.id === id);
      if (i < 0) return false;
      services.cancelled.push(id);
      services.runningList.splice(i, 1);
      return true;
    },
    status: (id) => services.statuses.get(id),
    methods: () => [...methods].sort(),
    stoppedMethods: () => [...services.stopped].sort(),
    setMethodStopped(method, stopped) {
      if (stopped) services.stopped.add(method);
      else services.stopped.delete(method);
    },
    publishers: () => [{ toNode: 'central', pending: 2 }],
  };
  return services;
}

export interface FakeBulk extends BulkTransport {
  /** Every request made, in order: subject and payload. */
  readonly requests: { subject: string; data: Uint8Array }[];
  /** Subjects served now. */
  readonly served: Map<string, (data: Uint8Array) => Promise<Uint8Array>>;
  /** Rewrites (or, returning undefined, loses) a request on its way; defaults to passing it. */
  intercept?: (subject: string, data: Uint8Array) => Uint8Array | undefined;
}

/** An in-memory bulk transport shared by a test's source and destination services. */
export function fakeBulk(maxPayload = 1024 * 1024): FakeBulk {
  const bulk: FakeBulk = {
    requests: [],
    served: new Map(),
    maxPayload: () => maxPayload,
    subject: (node, id) => `adm.bulk.${node}.${id}`,
    serve(subject, handler) {
      bulk.served.set(subject, handler);
      return {
        close: () => {
          if (bulk.served.get(subject) === handler) bulk.served.delete(subject);
        },
      };
    },
    async request(subject, data, timeoutMs) {
      bulk.requests.push({ subject, data: Buffer.from(data) }); // the sender reuses its buffers
      const delivered = bulk.intercept ? bulk.intercept(subject, data) : data;
      const handler = bulk.served.get(subject);
      if (!handler) throw new Error(`no responders for ${subject}`);
      if (delivered === undefined) {
        await new Promise((r) => setTimeout(r, timeoutMs));
        throw new Error(`timeout waiting for ${subject}`);
      }
      return handler(Buffer.from(delivered));
    },
  };
  return bulk;
}
