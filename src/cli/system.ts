import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { SubmitResult } from '../node/inputs/types.js';
import { SOCKET_FILE } from '../node/node.js';
import { DEFAULT_DB_FILE } from '../store/db.js';
import { Outbox } from '../store/outbox.js';
import { CliError } from './errors.js';

/**
 * Finds the local system the way a user expects: `--data-dir`, else ADMIRAL_DATA_DIR, else the
 * `admiral up` (or node) whose data dir is ./admiral-data.
 */
export function localDataDir(flag?: string): string {
  return resolve(flag ?? process.env.ADMIRAL_DATA_DIR ?? 'admiral-data');
}

/** Sends raw input to the local node's socket and returns its answer. */
export function submitToSocket(dataDir: string, raw: Buffer): Promise<SubmitResult> {
  const path = join(dataDir, SOCKET_FILE);
  if (!existsSync(path)) {
    throw new CliError(
      `no node is running with data dir ${dataDir} (no ${SOCKET_FILE}); start one with \`admiral up\` or pass --data-dir`,
    );
  }
  return new Promise((resolvePromise, reject) => {
    const socket = connect(path);
    let answer = '';
    socket.on('data', (d) => {
      answer += d.toString('utf8');
    });
    socket.on('end', () => {
      try {
        resolvePromise(JSON.parse(answer) as SubmitResult);
      } catch {
        reject(new CliError(`unexpected answer from ${path}: ${answer.slice(0, 200)}`));
      }
    });
    socket.on('error', (err) =>
      reject(new CliError(`cannot reach the node at ${path}: ${err.message}`, 1, { cause: err })),
    );
    socket.end(raw);
  });
}

/** The local node's outbox, read-only (the node keeps writing it; WAL lets both work). */
export function openLocalOutbox(dataDir: string): { outbox: Outbox; close: () => void } {
  const file = join(dataDir, DEFAULT_DB_FILE);
  if (!existsSync(file))
    throw new CliError(`no admiral database in ${dataDir}; start a node there first`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return { outbox: new Outbox(db), close: () => db.close() };
}
