// REQHello: a node's periodic hello (with its facts as data) to central. Recording it in the
// inventory is central's job; the method accepts it and hands the data back to the node.

import { type MethodHandler, MethodKind, MethodStatus } from './types.js';

export const hello: MethodHandler = {
  name: 'REQHello',
  kind: MethodKind.event,
  idempotent: true,
  run: async (ctx) => ({ status: MethodStatus.ok, data: ctx.request.data ?? '' }),
};
