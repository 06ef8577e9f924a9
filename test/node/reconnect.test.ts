import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Broker } from '../../src/broker/index.js';
import { type NodeProcess, runCli, startFleet } from '../helpers/fleet.js';
import { launchNatsServer, requireNatsServer } from '../helpers/nats-server.js';
import { closedTcpPort } from '../helpers/ports.js';

// After a broker restart nodes and central come back within a fraction of a second (a short
// backoff that grows, not a fixed 10 s wait), and a client command started while the broker
// was away waits for it and for central instead of failing.

interface RunningBroker {
  readonly url: string;
  stop(): Promise<void>;
}

type BrokerStart = (port: number) => Promise<RunningBroker>;

async function embedded(port: number): Promise<RunningBroker> {
  const broker = await Broker.start({ host: '127.0.0.1', port });
  return { url: broker.url, stop: () => broker.close() };
}

function natsServer(t: TestContext): BrokerStart | undefined {
  const bin = requireNatsServer(t);
  if (bin === undefined) return undefined;
  return async (port) => {
    const server = await launchNatsServer(bin, { args: ['-p', String(port)] });
    return { url: server.url, stop: () => server.stop() };
  };
}

/** When `proc` next logs that it reconnected (polled every 5 ms), after what it logged so far. */
function nextReconnect(proc: NodeProcess, timeoutMs: number): Promise<number> {
  const from = proc.output().length;
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (proc.output().slice(from).includes('reconnected to the broker')) {
        clearInterval(timer);
        resolve(Date.now());
      } else if (Date.now() > deadline) {
        clearInterval(timer);
        reject(
          new Error(
            `${proc.name} did not reconnect within ${timeoutMs} ms:\n${proc.output().slice(from)}`,
          ),
        );
      }
    }, 5);
  });
}

/** Most ms from the broker's return to a node's reconnect: attempts are < 1.3 s apart then. */
const BACK_WITHIN_MS = 1500;

for (const [name, starter] of [
  ['the embedded broker', () => embedded],
  ["Debian's nats-server", natsServer],
] as const) {
  test(`after ${name} restarts, nodes and central are back within ${BACK_WITHIN_MS / 1000} s and a run started meanwhile succeeds`, async (t) => {
    const start = starter(t);
    if (start === undefined) return;
    const port = await closedTcpPort();
    let broker: RunningBroker | undefined = await start(port);
    t.after(() => broker?.stop());
    const fleet = await startFleet(t, { brokerUrl: broker.url, nodes: ['ship1'] });
    const ship1 = fleet.nodes.get('ship1');
    assert.ok(ship1);
    const ship1Back = nextReconnect(ship1, 20_000);
    const centralBack = nextReconnect(fleet.central, 20_000);

    await broker.stop();
    broker = undefined;
    // Started while nothing listens on the broker's port: it must wait, not fail.
    const run = runCli(['run', '--nodes', 'ship1', '--', 'sh', '-c', 'echo back'], fleet.dir);
    await new Promise((r) => setTimeout(r, 1000));
    broker = await start(port);
    const backAt = Date.now();

    const [ship1At, centralAt, result] = await Promise.all([ship1Back, centralBack, run]);
    const ship1Ms = ship1At - backAt;
    const centralMs = centralAt - backAt;
    t.diagnostic(`back after the broker's return: ship1 ${ship1Ms} ms, central ${centralMs} ms`);
    assert.deepEqual(
      {
        runCode: result.code,
        runPrinted: /back/.test(result.stdout),
        ship1Back: ship1Ms < BACK_WITHIN_MS,
        centralBack: centralMs < BACK_WITHIN_MS,
      },
      { runCode: 0, runPrinted: true, ship1Back: true, centralBack: true },
      `ship1 ${ship1Ms} ms, central ${centralMs} ms; run: ${result.stdout}${result.stderr}`,
    );
  });
}
