import { hasBearer, unauthorized } from '../../http/bearer.js';
import type { HttpRoute } from '../../http/server.js';
import type { Submit } from './types.js';
import { MAX_SUBMISSION_BYTES } from './types.js';

/**
 * `POST /api/v1/messages` with a JSON array (or object, or YAML): the node's HTTP input. What it
 * takes is signed with the node's own key, so it needs the node's bearer token: a port on
 * 127.0.0.1 is open to every user of the machine, the unix socket only to the data dir's owner.
 */
export function messagesRoute(submit: Submit, token: string): HttpRoute {
  return {
    method: 'POST',
    path: '/api/v1/messages',
    maxBody: MAX_SUBMISSION_BYTES,
    handler: async (req) => {
      if (!hasBearer(req, token)) return unauthorized();
      const result = await submit(await req.body(), 'http');
      const status = result.accepted.length === 0 && result.rejected.length > 0 ? 400 : 200;
      return { status, body: result };
    },
  };
}
