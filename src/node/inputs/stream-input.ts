import { existsSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Input, Submit, SubmitResult } from './types.js';
import { MAX_SUBMISSION_BYTES, refusedInput } from './types.js';

// Steward's socket takes a message file piped in with `nc -U steward.sock < msg.json`.
// netcat-openbsd does not half-close after stdin ends, so waiting for EOF alone would hang:
// JSON input is processed as soon as it parses; anything else after a short quiet period or EOF.
// Sockets are half-open: a client that half-closes after its input (EOF) still reads the answer.
const QUIET_MS = 250;

/** Whether `buf`, whose last chunk is `last`, holds a whole JSON value. */
function looksComplete(last: Buffer, chunks: readonly Buffer[]): boolean {
  // Parse only when the input could have ended (its last byte closes an array or object): a
  // parse per chunk of a 16 MiB input would cost seconds (quadratic), and blocks every client.
  let end = last.length - 1;
  while (
    end >= 0 &&
    (last[end] === 0x20 || last[end] === 0x0a || last[end] === 0x0d || last[end] === 0x09)
  )
    end--;
  if (end < 0 || (last[end] !== 0x5d && last[end] !== 0x7d)) return false;
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!(text.startsWith('[') || text.startsWith('{'))) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function serve(socket: Socket, submit: Submit, source: string): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;
  let quiet: NodeJS.Timeout | undefined;

  const finish = (): void => {
    if (done) return;
    done = true;
    clearTimeout(quiet);
    const raw = Buffer.concat(chunks);
    if (raw.toString('utf8').trim() === '') {
      socket.end();
      return;
    }
    // Inside a promise, so that even a submit that throws answers this client and nothing else.
    Promise.resolve()
      .then(() => submit(raw, source))
      .then(
        (result) => reply(socket, result),
        (err: unknown) =>
          reply(socket, refusedInput(err instanceof Error ? err.message : String(err))),
      );
  };

  socket.on('data', (chunk: Buffer) => {
    if (done) return;
    size += chunk.length;
    if (size > MAX_SUBMISSION_BYTES) {
      done = true;
      reply(socket, refusedInput(`input larger than ${MAX_SUBMISSION_BYTES} bytes`));
      return;
    }
    chunks.push(chunk);
    clearTimeout(quiet);
    if (looksComplete(chunk, chunks)) finish();
    else quiet = setTimeout(finish, QUIET_MS);
  });
  socket.on('end', finish);
  socket.on('error', () => {
    done = true;
    clearTimeout(quiet);
  });
}

function reply(socket: Socket, result: SubmitResult): void {
  if (socket.destroyed) return;
  socket.end(`${JSON.stringify(result)}\n`);
}

function listen(server: Server, target: string | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const onListening = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (typeof target === 'string') server.listen(target, onListening);
    else server.listen(target.port, target.host, onListening);
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Refuses to take over a socket another live process is serving; removes a stale one. */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`another process is already serving ${path}`);
  unlinkSync(path);
}

/** The unix socket `<data-dir>/admiral.sock`, as Steward's `steward.sock`. */
export async function startSocketInput(path: string, submit: Submit): Promise<Input> {
  await clearStaleSocket(path);
  const server = createServer({ allowHalfOpen: true }, (socket) => serve(socket, submit, 'socket'));
  await listen(server, path);
  return {
    name: 'socket',
    address: path,
    close: async () => {
      await closeServer(server);
      if (existsSync(path)) unlinkSync(path);
    },
  };
}

/** An optional TCP listener that takes the same input as the unix socket. */
export async function startTcpInput(host: string, port: number, submit: Submit): Promise<Input> {
  const server = createServer({ allowHalfOpen: true }, (socket) => serve(socket, submit, 'tcp'));
  await listen(server, { host, port });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  return { name: 'tcp', address: `${host}:${bound}`, close: () => closeServer(server) };
}
