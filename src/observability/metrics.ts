import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HttpRoute } from '../http/server.js';

/** A node's Prometheus metrics; one registry per node so several nodes can share a process. */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly messages: Counter<'method' | 'state'>;
  readonly retries: Counter<'method'>;
  readonly ackLatency: Histogram<'method'>;
  readonly outboxDepth: Gauge<'target'>;
  readonly brokerConnected: Gauge;

  constructor(nodeName: string, outboxDepth: () => Record<string, number>) {
    this.registry.setDefaultLabels({ node: nodeName });
    this.messages = new Counter({
      name: 'admiral_messages_total',
      help: 'Messages sent by this node that reached a final state, by method and state',
      labelNames: ['method', 'state'],
      registers: [this.registry],
    });
    this.retries = new Counter({
      name: 'admiral_retries_total',
      help: 'Delivery attempts after the first, by method',
      labelNames: ['method'],
      registers: [this.registry],
    });
    this.ackLatency = new Histogram({
      name: 'admiral_ack_latency_seconds',
      help: 'Time from sending a message to its ACK (stored on the receiver)',
      labelNames: ['method'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.outboxDepth = new Gauge({
      name: 'admiral_outbox_depth',
      help: 'Messages waiting in the outbox, by target node',
      labelNames: ['target'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [target, n] of Object.entries(outboxDepth())) this.set({ target }, n);
      },
    });
    this.brokerConnected = new Gauge({
      name: 'admiral_broker_connected',
      help: '1 while connected to the broker, else 0',
      registers: [this.registry],
    });
  }

  /** `GET /metrics` in Prometheus text format. */
  route(): HttpRoute {
    return {
      method: 'GET',
      path: '/metrics',
      handler: async () => ({
        status: 200,
        text: await this.registry.metrics(),
        headers: { 'content-type': this.registry.contentType },
      }),
    };
  }
}
