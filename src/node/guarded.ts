import type { Msg } from '@nats-io/transport-node';
import type { Logger } from '../observability/logger.js';

// nats.js calls a subscription's callback from inside its socket's data handler, without a
// catch: whatever a callback throws ends the process, and with it `admiral up`'s embedded broker.
// Every callback that reads what others publish goes through `guarded`.

/** A NATS subscription callback. */
export type MsgCallback = (err: Error | null, msg: Msg) => void;

/**
 * `handle` as a callback that never throws: an exception is logged with `what` and, when the
 * message asked for an answer and `answer` is given, answered with what `answer` makes of it.
 */
export function guarded(
  log: Logger,
  what: string,
  handle: (msg: Msg) => void,
  answer?: (err: unknown) => string | Uint8Array,
): MsgCallback {
  return (err, msg) => {
    if (err) return;
    try {
      handle(msg);
    } catch (e) {
      log('warn', `${what}: cannot handle a message`, { subject: msg.subject, error: String(e) });
      if (answer === undefined || !msg.reply) return;
      try {
        msg.respond(answer(e));
      } catch {
        // The connection is gone: the asker times out.
      }
    }
  };
}
