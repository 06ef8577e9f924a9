import { inboxMigrations } from './inbox.js';
import { inventoryMigrations } from './inventory.js';
import { jobMigrations } from './jobs.js';
import { nodeKeyMigrations } from './node-keys.js';
import type { Migration } from './migrate.js';
import { outboxMigrations } from './outbox.js';
import { servicesMigrations } from './services.js';

// Every table family's migrations, in version order. To add a family (services, inventory,
// jobs): export `fooMigrations` from `src/store/foo.ts` with the next free version numbers and
// append it here. Versions are global and never renumbered; `checkMigrations` enforces 1..n.
export const MIGRATIONS: readonly Migration[] = [
  ...outboxMigrations,
  ...inboxMigrations,
  ...servicesMigrations,
  ...jobMigrations,
  ...inventoryMigrations,
  ...nodeKeyMigrations,
].sort((a, b) => a.version - b.version);
