/** Structured log sink: level, message and fields. Only the CLI decides where lines go. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** A logger that drops everything (library default). */
export const silentLogger: Logger = () => undefined;
