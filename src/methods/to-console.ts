// REQToConsole: print the data of a reply where the node prints (Steward: "printed to stdout
// where Steward is running"), one console line per line of data.

import {
  type MethodContext,
  type MethodHandler,
  MethodKind,
  type MethodOutput,
  MethodStatus,
} from './types.js';

async function printReply(ctx: MethodContext): Promise<MethodOutput> {
  const data = ctx.request.data ?? '';
  if (data !== '') {
    const lines = data.split('\n');
    if (lines.at(-1) === '') lines.pop(); // the final "\n" ends the last line; it adds none
    for (const line of lines) ctx.console(line);
  }
  return { status: MethodStatus.ok, data: '' };
}

export const toConsole: MethodHandler = {
  name: 'REQToConsole',
  kind: MethodKind.reply,
  idempotent: true,
  run: printReply,
};
