// Errors raised by the SQLite store. Each has a stable `code` and `name` equal to its class.

/** The database was written by a newer admiral, or a migration list is malformed or failed. */
export class StoreMigrationError extends Error {
  readonly code = 'ADMIRAL_STORE_MIGRATION';
  override readonly name = 'StoreMigrationError';
  /** Path of the database file. */
  readonly file: string;
  /** The migration version concerned, when there is one. */
  readonly version: number | undefined;
  constructor(message: string, fields: { file: string; version?: number }, options?: ErrorOptions) {
    super(message, options);
    this.file = fields.file;
    this.version = fields.version;
  }
}

/** The database file could not be opened (permissions, corrupt file, locked by a writer). */
export class StoreOpenError extends Error {
  readonly code = 'ADMIRAL_STORE_OPEN';
  override readonly name = 'StoreOpenError';
  readonly file: string;
  constructor(message: string, fields: { file: string }, options?: ErrorOptions) {
    super(message, options);
    this.file = fields.file;
  }
}

/** A caller asked for a state change the store's rules do not allow (e.g. a non-terminal `finish`). */
export class StoreStateError extends Error {
  readonly code = 'ADMIRAL_STORE_STATE';
  override readonly name = 'StoreStateError';
  readonly id: string;
  readonly state: string;
  constructor(message: string, fields: { id: string; state: string }) {
    super(message);
    this.id = fields.id;
    this.state = fields.state;
  }
}

/** Central's state cannot be opened on JetStream (the broker has none, or refused the bucket). */
export class JetStreamStateError extends Error {
  readonly code = 'ADMIRAL_JETSTREAM_STATE';
  override readonly name = 'JetStreamStateError';
  /** The KV bucket concerned. */
  readonly bucket: string;
  constructor(message: string, fields: { bucket: string }, options?: ErrorOptions) {
    super(message, options);
    this.bucket = fields.bucket;
  }
}
