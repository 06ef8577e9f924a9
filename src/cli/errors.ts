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

/** Turns any thrown value into the one line an operator reads. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
