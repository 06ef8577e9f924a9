import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, NodeMetrics } from '../../src/observability/metrics.js';

// The node's metrics are written in Prometheus's text exposition format by our own code: these
// check the format's rules (what a Prometheus server would refuse or misread), not just our names.

/** A sample line: name, optional {labels}, value; label values quoted with \\ \" \n escaped. */
const SAMPLE =
  /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*")*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$/;

function assertExposition(text: string): void {
  assert.ok(text.endsWith('\n'), 'the text ends with a line feed');
  for (const line of text.split('\n').filter(Boolean)) {
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    assert.match(line, SAMPLE);
  }
}

test('a node metrics text follows the exposition format: node label on every series, TYPE before samples, cumulative buckets', () => {
  const m = new NodeMetrics('ship1', () => ({ ship2: 3 }));
  m.messages.inc({ method: 'REQPing', state: 'completed' });
  m.messages.inc({ method: 'REQPing', state: 'completed' });
  m.messages.inc({ method: 'REQCliCommand', state: 'failed' });
  m.ackLatency.observe({ method: 'REQPing' }, 0.003);
  m.ackLatency.observe({ method: 'REQPing' }, 0.2);
  m.ackLatency.observe({ method: 'REQPing' }, 60);
  m.brokerConnected.set({}, 1);
  const text = m.text();
  assertExposition(text);
  assert.match(
    text,
    /^admiral_messages_total\{node="ship1",method="REQPing",state="completed"\} 2$/m,
  );
  assert.match(
    text,
    /^admiral_messages_total\{node="ship1",method="REQCliCommand",state="failed"\} 1$/m,
  );
  assert.match(text, /^admiral_outbox_depth\{node="ship1",target="ship2"\} 3$/m);
  assert.match(text, /^admiral_broker_connected\{node="ship1"\} 1$/m);
  const bucket = (le: string): number =>
    Number(
      new RegExp(
        `^admiral_ack_latency_seconds_bucket\\{node="ship1",method="REQPing",le="${le.replace('+', '\\+')}"\\} (\\S+)$`,
        'm',
      ).exec(text)?.[1],
    );
  assert.equal(bucket('0.001'), 0);
  assert.equal(bucket('0.005'), 1);
  assert.equal(bucket('0.25'), 2);
  assert.equal(bucket('10'), 2);
  assert.equal(bucket('+Inf'), 3);
  assert.match(text, /^admiral_ack_latency_seconds_count\{node="ship1",method="REQPing"\} 3$/m);
  assert.match(text, /^admiral_ack_latency_seconds_sum\{node="ship1",method="REQPing"\} 60\.203$/m);
  for (const name of ['messages_total', 'retries_total', 'ack_latency_seconds', 'outbox_depth']) {
    const type = text.indexOf(`# TYPE admiral_${name} `);
    const first = text.search(new RegExp(`^admiral_${name}[{_ ]`, 'm'));
    assert.ok(type >= 0 && (first < 0 || type < first), `TYPE of admiral_${name} comes first`);
  }
});

test('label values with quotes, backslashes and line feeds are escaped: a series cannot add a line', () => {
  const c = new Counter('t_total', 'help with \\ and\nnewline', ['target']);
  c.inc({ target: 'a"} 1\nforged_total 99' });
  c.inc({ target: 'back\\slash' }, 2);
  const text = c.render([['node', 'n"1']]);
  assertExposition(text);
  assert.equal(text.split('\n').filter(Boolean).length, 4, text);
  assert.doesNotMatch(text, /^forged_total/m);
  assert.match(text, /^# HELP t_total help with \\\\ and\\nnewline$/m);
  assert.match(text, /^t_total\{node="n\\"1",target="a\\"\} 1\\nforged_total 99"\} 1$/m);
  assert.match(text, /^t_total\{node="n\\"1",target="back\\\\slash"\} 2$/m);
});

test('a counter refuses to go down, and histogram buckets must increase', () => {
  const c = new Counter('t_total', 'h', []);
  assert.throws(() => c.inc({}, -1), /only goes up/);
  assert.throws(() => c.inc({}, Number.NaN), /only goes up/);
  assert.throws(() => new Histogram('h', 'h', [], [1, 1]), /buckets must increase/);
});
