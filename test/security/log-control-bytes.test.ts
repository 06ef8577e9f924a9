import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { logLine } from '../../src/cli/lifecycle.js';
import { startFleet } from '../helpers/fleet.js';

// Text taken from the wire (a message's data, a node name, a method, an error) can carry terminal
// control sequences; a log line shows them escaped, so reading a node's log cannot clear the
// screen, move the cursor or forge a second log line.

const ESC = '\x1b[2J\x1b[H';
// eslint-disable-next-line no-control-regex -- what must not be written
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe('control bytes in log lines', () => {
  test("a node's reply carrying ANSI escapes and newlines reaches the origin's log line escaped", async (t) => {
    const fleet = await startFleet(t, { nodes: ['ship1'] });
    // ship1's output comes back over the wire; REQToConsole logs it on central.
    const text = String.raw`cleared\033[2J\033[H screen\n2026-01-01T00:00:00.000Z ERROR forged\007\177\302\233`;
    const sent = await fleet.send('central', [
      {
        toNode: 'ship1',
        method: 'REQCliCommand',
        methodArgs: ['printf', '%b', text],
        replyMethod: 'REQToConsole',
      },
    ]);
    assert.equal(sent.rejected.length, 0, JSON.stringify(sent.rejected));
    await fleet.waitFor('central', sent.accepted[0]!, ['completed']);
    const deadline = Date.now() + 5000;
    while (!fleet.central.output().includes('cleared') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const out = fleet.central.output();
    assert.ok(out.includes('cleared'), out);
    assert.doesNotMatch(out, RAW_CONTROL, 'no raw control byte is written');
    assert.ok(out.includes('cleared\\x1b[2J\\x1b[H screen'), out);
    assert.doesNotMatch(out, /\n2026-01-01T00:00:00\.000Z ERROR forged/, 'no forged line');
  });

  test('the message, keys and values of a log line are escaped, strings and JSON alike', (t) => {
    const lines: string[] = [];
    t.mock.method(process.stderr, 'write', (chunk: string) => {
      lines.push(chunk);
      return true;
    });
    logLine('warn', `rejected ${ESC}`, { [`k${ESC}`]: `v\r\n${ESC}`, obj: { e: '\x9b\x7f' } });
    t.mock.restoreAll();
    assert.equal(lines.length, 1);
    const line = lines[0]!;
    assert.equal(line.indexOf('\n'), line.length - 1, 'one line');
    assert.doesNotMatch(line.slice(0, -1).replaceAll('\n', ''), RAW_CONTROL);
    assert.match(line, /rejected \\x1b\[2J\\x1b\[H k\\x1b\[2J\\x1b\[H=v\\r\\n\\x1b\[2J/);
    assert.match(line, /obj=\{"e":"\\x9b\\x7f"\}/);
  });
});
