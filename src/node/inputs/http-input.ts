import type { HttpRoute } from '../../http/server.js';
import type { Submit } from './types.js';
import { MAX_SUBMISSION_BYTES } from './types.js';

/** `POST /api/v1/messages` with a JSON array (or object, or YAML): the node's HTTP input. */
export function messagesRoute(submit: Submit): HttpRoute {
  return {
    method: 'POST',
    path: '/api/v1/messages',
    maxBody: MAX_SUBMISSION_BYTES,
    handler: async (req) => {
      const result = await submit(await req.body(), 'http');
      const status = result.accepted.length === 0 && result.rejected.length > 0 ? 400 : 200;
      return { status, body: result };
    },
  };
}
