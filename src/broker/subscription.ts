// One client subscription as stored in the sublist.

import type { SublistEntry } from './sublist.js';

/** The delivering side of a subscription: the connection that owns it. */
export interface SubscriptionOwner {
  readonly cid: number;
}

export class Subscription<O extends SubscriptionOwner = SubscriptionOwner> implements SublistEntry {
  /** `' <sid> '`, precomputed because it is written into every MSG line for this subscription. */
  readonly sidPart: string;
  /** Auto-unsubscribe limit; 0 = none. */
  max = 0;
  /** Messages delivered so far (counts before any UNSUB max, as nats-server's sub.nm). */
  delivered = 0;
  closed = false;
  // The last MSG line head written for this subscription, reused while the publisher repeats
  // the same subject and tail (same string objects, so the check is two pointer compares).
  headSubject = '';
  headTail = '';
  headVerb = '';
  head: Buffer | null = null;

  constructor(
    readonly owner: O,
    readonly subject: string,
    readonly queue: string,
    readonly sid: string,
  ) {
    this.sidPart = ' ' + sid + ' ';
  }
}
