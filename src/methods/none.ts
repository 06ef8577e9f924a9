// REQNone: Steward's "Don't send a reply message": the reply is dropped.

import { type MethodHandler, MethodKind, MethodStatus } from './types.js';

export const none: MethodHandler = {
  name: 'REQNone',
  kind: MethodKind.reply,
  idempotent: true,
  settlesOnly: true,
  run: async () => ({ status: MethodStatus.ok, data: '' }),
};
