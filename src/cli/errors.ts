import { BrokerListenError } from '../broker/errors.js';
import { BrokerConnectError } from '../node/broker-connection.js';

/** An error the CLI reports as `Fatal error: <message>` with the given exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code = 'ADMIRAL_CLI';
  constructor(
    message: string,
    readonly exitCode = 1,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Turns any thrown value into what an operator reads: what went wrong, and what to do. */
export function describeError(err: unknown): string {
  if (err instanceof BrokerConnectError && err.refused) {
    return `${err.message}\nNo broker answers there. \`admiral up\` starts admiral in this folder (data in ./admiral-data); for one already running elsewhere, give --data-dir DIR of its node or --broker URL.`;
  }
  if (err instanceof BrokerListenError && /EADDRINUSE/.test(err.message)) {
    return `${err.message}\nSomething is already listening on ${err.host}:${err.port}: most likely an admiral (or a NATS server) that is running. Stop it, or pick another port (--broker-port PORT, or --listen HOST:PORT; 0 takes any free one).`;
  }
  if (err instanceof Error) return err.message;
  return String(err);
}
