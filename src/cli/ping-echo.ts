import { requestCentral } from '../central/client.js';
import { CENTRAL_SERVICES } from '../central/wire.js';
import { formatResult, type GlobalFlags, withClient } from './central-client.js';

// `admiral ping --data X`: bpclient's end-to-end check, an echo through the broker to the
// central's broker services. ping.ts takes this path when --data is given.

/** Sends `data` to the central's echo service and returns what came back. */
export async function pingEcho(
  flags: GlobalFlags,
  data: string,
  timeoutMs: number,
): Promise<string> {
  return withClient(flags, timeoutMs, async (client) => {
    const result = await requestCentral(client, CENTRAL_SERVICES.ping, { data }, timeoutMs);
    return typeof result === 'string' ? result : String(result);
  });
}

/** The echo as the CLI prints it: the data alone on stdout. `timeoutSec` covers connect and answer. */
export async function runPingEcho(
  flags: GlobalFlags,
  data: string,
  timeoutSec: number,
): Promise<void> {
  const echoed = await pingEcho(flags, data, timeoutSec * 1000);
  process.stdout.write(formatResult(echoed, flags.format));
}
