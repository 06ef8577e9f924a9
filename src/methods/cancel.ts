// REQCancel: cancels a message running on this node by its id (methodArgs [id]). The method's
// signal aborts with reason 'cancelled': a command's whole process group is killed, and the
// cancelled message ends `cancelled` at its sender. Answers once the run is gone.

import { BadMethodArgsError, NoNodeServicesError, NotRunningError } from './errors.js';
import { waitUntilStopped } from './node-wait.js';
import { DEFAULT_KILL_GRACE_MS, failure } from './output.js';
import {
  type MethodContext,
  type MethodHandler,
  MethodKind,
  type MethodOutput,
  MethodStatus,
} from './types.js';

/**
 * Cancels `id` and waits (up to the kill grace and a second) until it no longer runs. Shared by
 * REQCancel and REQOpProcessStop.
 */
export async function cancelRunning(ctx: MethodContext, id: string): Promise<MethodOutput> {
  const services = ctx.services;
  if (!services) return failure(new NoNodeServicesError(ctx.request.method));
  if (id === ctx.request.id) {
    return failure(
      new BadMethodArgsError(
        `Expected the id of another message, got this one's own (${id})`,
        ctx.request.method,
      ),
    );
  }
  if (!services.cancel(id)) return failure(new NotRunningError(id, ctx.nodeName));
  const grace = ctx.limits.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const gone = await waitUntilStopped(services, id, grace + 1000);
  ctx.log('info', 'cancelled a running message', { cancelled: id, stopped: gone });
  return {
    status: MethodStatus.ok,
    data: gone
      ? `cancelled ${id} on ${ctx.nodeName}\n`
      : `cancel of ${id} on ${ctx.nodeName} requested; it is still stopping\n`,
  };
}

async function run(ctx: MethodContext): Promise<MethodOutput> {
  const [id, ...rest] = ctx.request.methodArgs;
  if (id === undefined || id === '' || rest.length > 0) {
    return failure(
      new BadMethodArgsError(
        `Expected methodArgs to be [id of the message to cancel], got ${JSON.stringify(ctx.request.methodArgs)}`,
        ctx.request.method,
      ),
    );
  }
  return cancelRunning(ctx, id);
}

export const cancel: MethodHandler = {
  name: 'REQCancel',
  kind: MethodKind.request,
  privileged: true,
  run,
};
