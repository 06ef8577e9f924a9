import { join } from 'node:path';
import type { NodeContext } from '../node/extension.js';
import { FileTrustStore, type TrustLookup, UntrustedSignerError } from '../protocol/index.js';

// Who may call central's signed services (jobs, inventory, enrolment admin): central's own key
// (the CLI on central's data dir) and every key in its trust store.

/** The keys central trusts for signed requests. The trust file is read again when it changes. */
export function centralTrust(ctx: NodeContext): TrustLookup {
  const store = new FileTrustStore(join(ctx.options.dataDir, 'trust.json'));
  return { has: (key) => key === ctx.identity.publicKey || store.has(key) };
}

/** An operator's reading of a refused signed request: what was wrong, and the fix when known. */
export function refusalText(err: unknown): string {
  if (err instanceof UntrustedSignerError) {
    return `${err.message}; on the central, run: admiral trust add ${err.signer}`;
  }
  return err instanceof Error ? err.message : String(err);
}
