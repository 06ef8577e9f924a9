// REQPing answers "pong"; REQPong is the reply method that receives it and writes nothing (the
// node records the reply itself, and the round trip time with it).

import { type MethodHandler, MethodKind, MethodStatus } from './types.js';

export const ping: MethodHandler = {
  name: 'REQPing',
  kind: MethodKind.request,
  idempotent: true,
  run: async () => ({ status: MethodStatus.ok, data: 'pong' }),
};

export const pong: MethodHandler = {
  name: 'REQPong',
  kind: MethodKind.reply,
  idempotent: true,
  run: async () => ({ status: MethodStatus.ok, data: '' }),
};
