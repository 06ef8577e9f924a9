// Errors the broker raises to its caller, and the exact -ERR texts it sends to clients.

/** Base class of every error the broker throws to its caller. */
// Each class names itself: the CLI bundle is minified (scripts/build-cli.mjs), so a class's own
// name is not what the source says.
export class BrokerError extends Error {
  override name = 'BrokerError';
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** The options given to `Broker.start` are invalid. */
export class BrokerConfigError extends BrokerError {
  override name = 'BrokerConfigError';
  /** Dotted path of the offending option, when one is known. */
  readonly option: string | undefined;
  constructor(message: string, option?: string, options?: { cause?: unknown }) {
    super('ADMIRAL_BROKER_CONFIG', message, options);
    this.option = option;
  }
}

/** A non-loopback listener was asked for without TLS and authorization, and without `insecure`. */
export class InsecureListenError extends BrokerError {
  override name = 'InsecureListenError';
  readonly host: string;
  constructor(host: string) {
    super(
      'ADMIRAL_BROKER_INSECURE_LISTEN',
      `Refusing to listen on non-loopback address ${host} without TLS and authentication: ` +
        'add tls and authorization, or pass --insecure',
    );
    this.host = host;
  }
}

/** The listening socket could not be opened (address in use, permission denied, ...). */
export class BrokerListenError extends BrokerError {
  override name = 'BrokerListenError';
  readonly host: string;
  readonly port: number;
  constructor(host: string, port: number, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('ADMIRAL_BROKER_LISTEN', `cannot listen on ${host}:${port}: ${reason}`, { cause });
    this.host = host;
    this.port = port;
  }
}

/**
 * Texts of the -ERR lines, byte for byte as nats-server 2.9.10 sends them (checked against the
 * binary: several are lower case, unlike the protocol docs). Source: server/errors.go, client.go.
 */
export const ServerErrorText = {
  UnknownOp: 'Unknown Protocol Operation',
  AuthViolation: 'Authorization Violation',
  AuthTimeout: 'Authentication Timeout',
  MaxPayload: 'Maximum Payload Violation',
  MaxControlLine: 'maximum control line exceeded',
  MaxConnections: 'maximum connections exceeded',
  MaxSubscriptions: 'maximum subscriptions exceeded',
  BadClientProtocol: 'invalid client protocol',
  NoRespondersNeedHeaders: 'no responders requires headers support',
  StaleConnection: 'Stale Connection',
  AuthExpired: 'User Authentication Expired',
  AccountAuthExpired: 'Account Authentication Expired',
  MaxAccountConnections: 'maximum account active connections exceeded',
  InvalidSubject: 'Invalid Subject',
  InvalidPublishSubject: 'Invalid Publish Subject',
} as const;
export type ServerErrorText = (typeof ServerErrorText)[keyof typeof ServerErrorText];
