// Steward's process control (REQOpProcessList, REQOpProcessStart, REQOpProcessStop). A node's
// "processes" in Steward's sense are its subscribers (one per method it handles), its publishers
// (one per target node with messages waiting) and the methods running now, each with its
// message id. Stopping a subscriber makes the node refuse that method until it is started again;
// stopping a running message cancels it (its process group is killed).

import { cancelRunning } from './cancel.js';
import { BadMethodArgsError, NoNodeServicesError } from './errors.js';
import { failure } from './output.js';
import {
  type MethodContext,
  type MethodHandler,
  MethodKind,
  type MethodOutput,
  MethodStatus,
  type NodeServices,
} from './types.js';

/** Steward: "Op commands … can't be turned off"; neither can cancel, or nobody could undo it. */
const ALWAYS_ON: ReadonlySet<string> = new Set([
  'REQOpProcessList',
  'REQOpProcessStart',
  'REQOpProcessStop',
  'REQCancel',
]);

function servicesOf(ctx: MethodContext): NodeServices | MethodOutput {
  return ctx.services ?? failure(new NoNodeServicesError(ctx.request.method));
}

function badArgs(ctx: MethodContext, expected: string): MethodOutput {
  return failure(
    new BadMethodArgsError(
      `Expected methodArgs to be ${expected}, got ${JSON.stringify(ctx.request.methodArgs)}`,
      ctx.request.method,
    ),
  );
}

/**
 * One line per process: `subscriber <node>.<method> running|stopped`, `publisher <node>-><target>
 * pending=<n>`, `method <node>.<method> id=<message id> from=<node> started=<ISO time>`.
 */
export function processLines(nodeName: string, services: NodeServices): string[] {
  const stopped = new Set(services.stoppedMethods());
  const lines = services
    .methods()
    .map((m) => `subscriber ${nodeName}.${m} ${stopped.has(m) ? 'stopped' : 'running'}`);
  for (const p of services.publishers()) {
    lines.push(`publisher ${nodeName}->${p.toNode} pending=${p.pending}`);
  }
  for (const r of services.running()) {
    lines.push(
      `method ${nodeName}.${r.method} id=${r.id} from=${r.fromNode} started=${new Date(r.startedAt).toISOString()}`,
    );
  }
  return lines;
}

async function list(ctx: MethodContext): Promise<MethodOutput> {
  const services = servicesOf(ctx);
  if (!('nodeName' in services)) return services;
  return { status: MethodStatus.ok, data: `${processLines(ctx.nodeName, services).join('\n')}\n` };
}

async function start(ctx: MethodContext): Promise<MethodOutput> {
  const services = servicesOf(ctx);
  if (!('nodeName' in services)) return services;
  const [method, ...rest] = ctx.request.methodArgs;
  if (method === undefined || rest.length > 0) return badArgs(ctx, '[method to start]');
  if (!services.methods().includes(method)) {
    return badArgs(ctx, `[a method this node handles (${services.methods().join(', ')})]`);
  }
  const wasStopped = services.stoppedMethods().includes(method);
  services.setMethodStopped(method, false);
  return {
    status: MethodStatus.ok,
    data: wasStopped
      ? `started subscriber ${ctx.nodeName}.${method}\n`
      : `subscriber ${ctx.nodeName}.${method} was already running\n`,
  };
}

async function stop(ctx: MethodContext): Promise<MethodOutput> {
  const services = servicesOf(ctx);
  if (!('nodeName' in services)) return services;
  const args = ctx.request.methodArgs;
  const expected = '[method, node, kind (subscriber|publisher), process id]';
  if (args.length !== 4) return badArgs(ctx, expected);
  const [method, node, kind, id] = args as [string, string, string, string];
  if (node !== ctx.nodeName) {
    return badArgs(ctx, `${expected} with node ${ctx.nodeName} (the node that received it)`);
  }
  // A running method is stopped by its message id, whatever kind was named.
  if (services.running().some((r) => r.id === id)) return cancelRunning(ctx, id);
  if (kind === 'publisher') {
    return failure(
      new BadMethodArgsError(
        `Expected kind subscriber or the id of a running message: ${ctx.nodeName}'s publishers end by themselves when their queue is empty and cannot be stopped (messages are durable; cancel one with REQCancel)`,
        ctx.request.method,
      ),
    );
  }
  if (kind !== 'subscriber') return badArgs(ctx, expected);
  if (!services.methods().includes(method)) {
    return badArgs(ctx, `${expected} naming a method this node handles`);
  }
  if (ALWAYS_ON.has(method)) {
    return badArgs(
      ctx,
      `${expected} naming a method other than ${[...ALWAYS_ON].join(', ')}, which cannot be stopped`,
    );
  }
  services.setMethodStopped(method, true);
  // admiral has one subscriber per method: the method names it, the process id is not needed.
  return { status: MethodStatus.ok, data: `stopped subscriber ${ctx.nodeName}.${method}\n` };
}

export const opProcessList: MethodHandler = {
  name: 'REQOpProcessList',
  kind: MethodKind.request,
  privileged: true,
  idempotent: true,
  run: list,
};

export const opProcessStart: MethodHandler = {
  name: 'REQOpProcessStart',
  kind: MethodKind.request,
  privileged: true,
  idempotent: true,
  run: start,
};

export const opProcessStop: MethodHandler = {
  name: 'REQOpProcessStop',
  kind: MethodKind.request,
  privileged: true,
  run: stop,
};
