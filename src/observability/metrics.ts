import type { HttpRoute } from '../http/server.js';

// A node's Prometheus metrics in the text exposition format (version 0.0.4), written here rather
// than with prom-client: the five series a node has need counters, gauges and one histogram, and
// prom-client alone added ≈ 11 MiB to every idle node (bench/idle, docs/benchmarks.md).

type Labels<L extends string> = Readonly<Record<L, string>>;

/** `\`, `"` and line feeds escaped, as the exposition format requires in label values. */
const escapeValue = (v: string): string =>
  v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
/** `\` and line feeds escaped, as the exposition format requires in HELP text. */
const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

const formatValue = (v: number): string =>
  Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v);

/** `{a="1",b="2"}` of the pairs, in the order given; empty when there are none. */
function labelText(pairs: readonly (readonly [string, string])[]): string {
  if (pairs.length === 0) return '';
  return `{${pairs.map(([k, v]) => `${k}="${escapeValue(v)}"`).join(',')}}`;
}

/** One metric family: its series by label values, and how each is written. */
abstract class Family<L extends string, S> {
  readonly #series = new Map<string, { labels: Labels<L>; state: S }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[],
  ) {}

  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  protected abstract fresh(): S;
  protected abstract write(
    state: S,
    line: (suffix: string, extra: readonly (readonly [string, string])[], v: number) => void,
  ): void;

  protected series(labels: Labels<L>): S {
    const key = this.labelNames.map((n) => labels[n]).join('\u0000');
    let s = this.#series.get(key);
    if (s === undefined) {
      s = { labels: { ...labels }, state: this.fresh() };
      this.#series.set(key, s);
    }
    return s.state;
  }

  /** Forgets every series. */
  reset(): void {
    this.#series.clear();
  }

  /** Called before each scrape (a gauge that reads its value then). */
  collect(): void {}

  /** The family's HELP, TYPE and sample lines, each series with `fixed` labels first. */
  render(fixed: readonly (readonly [string, string])[]): string {
    this.collect();
    const out = [
      `# HELP ${this.name} ${escapeHelp(this.help)}`,
      `# TYPE ${this.name} ${this.type}`,
    ];
    for (const { labels, state } of this.#series.values()) {
      const own = this.labelNames.map((n) => [n, labels[n]] as const);
      this.write(state, (suffix, extra, v) =>
        out.push(
          `${this.name}${suffix}${labelText([...fixed, ...own, ...extra])} ${formatValue(v)}`,
        ),
      );
    }
    return `${out.join('\n')}\n`;
  }
}

/** A family whose series are one number each (counters and gauges). */
abstract class Scalar<L extends string> extends Family<L, { value: number }> {
  protected fresh(): { value: number } {
    return { value: 0 };
  }
  protected write(state: { value: number }, line: (s: string, e: [], v: number) => void): void {
    line('', [], state.value);
  }
}

export class Counter<L extends string = never> extends Scalar<L> {
  readonly type = 'counter';
  inc(labels: Labels<L>, by = 1): void {
    if (!(by >= 0)) throw new RangeError(`${this.name}: a counter only goes up (got ${by})`);
    this.series(labels).value += by;
  }
}

export class Gauge<L extends string = never> extends Scalar<L> {
  readonly type = 'gauge';
  readonly #collect: ((g: Gauge<L>) => void) | undefined;
  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    collect?: (g: Gauge<L>) => void,
  ) {
    super(name, help, labelNames);
    this.#collect = collect;
  }
  override collect(): void {
    this.#collect?.(this);
  }
  set(labels: Labels<L>, value: number): void {
    this.series(labels).value = value;
  }
}

interface HistogramState {
  readonly counts: number[];
  sum: number;
  count: number;
}

export class Histogram<L extends string = never> extends Family<L, HistogramState> {
  readonly type = 'histogram';
  constructor(
    name: string,
    help: string,
    labelNames: readonly L[],
    readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames);
    if (buckets.some((b, i) => i > 0 && b <= buckets[i - 1]!))
      throw new RangeError(`${name}: buckets must increase`);
  }
  protected fresh(): HistogramState {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }
  protected write(
    state: HistogramState,
    line: (s: string, e: readonly (readonly [string, string])[], v: number) => void,
  ): void {
    let cumulative = 0;
    this.buckets.forEach((le, i) => {
      cumulative += state.counts[i]!;
      line('_bucket', [['le', formatValue(le)]], cumulative);
    });
    line('_bucket', [['le', '+Inf']], state.count);
    line('_sum', [], state.sum);
    line('_count', [], state.count);
  }
  observe(labels: Labels<L>, value: number): void {
    const s = this.series(labels);
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i]! += 1;
    s.sum += value;
    s.count += 1;
  }
}

/** A node's Prometheus metrics; one set per node so several nodes can share a process. */
export class NodeMetrics {
  readonly messages = new Counter(
    'admiral_messages_total',
    'Messages sent by this node that reached a final state, by method and state',
    ['method', 'state'],
  );
  readonly retries = new Counter(
    'admiral_retries_total',
    'Delivery attempts after the first, by method',
    ['method'],
  );
  readonly ackLatency = new Histogram(
    'admiral_ack_latency_seconds',
    'Time from sending a message to its ACK (stored on the receiver)',
    ['method'],
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  readonly outboxDepth: Gauge<'target'>;
  readonly brokerConnected = new Gauge(
    'admiral_broker_connected',
    '1 while connected to the broker, else 0',
    [],
  );
  readonly #node: readonly (readonly [string, string])[];

  constructor(nodeName: string, outboxDepth: () => Record<string, number>) {
    this.#node = [['node', nodeName]];
    this.outboxDepth = new Gauge(
      'admiral_outbox_depth',
      'Messages waiting in the outbox, by target node',
      ['target'],
      (g) => {
        g.reset();
        for (const [target, n] of Object.entries(outboxDepth())) g.set({ target }, n);
      },
    );
    this.brokerConnected.set({}, 0);
  }

  /** Every family in the text exposition format. */
  text(): string {
    return [this.messages, this.retries, this.ackLatency, this.outboxDepth, this.brokerConnected]
      .map((f) => f.render(this.#node))
      .join('\n');
  }

  /** `GET /metrics` in Prometheus text format. */
  route(): HttpRoute {
    return {
      method: 'GET',
      path: '/metrics',
      handler: () =>
        Promise.resolve({
          status: 200,
          text: this.text(),
          headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
        }),
    };
  }
}
