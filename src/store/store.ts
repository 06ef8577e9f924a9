import { AuditLog } from './audit.js';
import { type AdmiralDatabase, openDatabase, type Synchronous } from './db.js';
import { Inbox } from './inbox.js';
import { Outbox } from './outbox.js';
import { MIGRATIONS } from './schema.js';

export interface OpenStoreOptions {
  dataDir: string;
  /** Commit durability; default `normal` (survives a process crash; see `Synchronous`). */
  synchronous?: Synchronous;
  /** Wait for a locked database, in ms; default 5000. */
  busyTimeoutMs?: number;
  /** fsync every audit line; default false. */
  auditFsync?: boolean;
  /** Clock in epoch ms; default `Date.now`. */
  now?: () => number;
}

/** A node's storage: the database with every migration applied, its outbox, inbox and audit log. */
export interface Store {
  readonly database: AdmiralDatabase;
  readonly outbox: Outbox;
  readonly inbox: Inbox;
  readonly audit: AuditLog;
  /** Closes the audit log and the database; safe to call twice. */
  close(): void;
}

export function openStore(options: OpenStoreOptions): Store {
  const database = openDatabase({
    dataDir: options.dataDir,
    migrations: MIGRATIONS,
    ...(options.synchronous !== undefined && { synchronous: options.synchronous }),
    ...(options.busyTimeoutMs !== undefined && { busyTimeoutMs: options.busyTimeoutMs }),
  });
  const clock = options.now === undefined ? {} : { now: options.now };
  let audit: AuditLog;
  try {
    audit = new AuditLog({ dataDir: options.dataDir, fsync: options.auditFsync ?? false });
  } catch (err) {
    database.close();
    throw err;
  }
  return {
    database,
    outbox: new Outbox(database.db, clock),
    inbox: new Inbox(database.db, clock),
    audit,
    close() {
      audit.close();
      database.close();
    },
  };
}
