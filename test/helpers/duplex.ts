// An in-memory pair of connected Duplex streams (Node 20 has no stream.duplexPair): bytes
// written to one side are read from the other, with backpressure, and ending or destroying one
// side ends the other.
import { Duplex } from 'node:stream';

class Side extends Duplex {
  peer: Side | null = null;
  private pendingCallback: ((error?: Error | null) => void) | null = null;

  override _read(): void {
    // The reader wants more: release a writer that was waiting for room.
    const peer = this.peer;
    const cb = peer?.pendingCallback;
    if (peer && cb) {
      peer.pendingCallback = null;
      cb();
    }
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    cb: (error?: Error | null) => void,
  ): void {
    const peer = this.peer;
    if (!peer || peer.destroyed) {
      cb(new Error('peer closed'));
      return;
    }
    if (peer.push(chunk)) cb();
    else this.pendingCallback = cb;
  }

  override _final(cb: (error?: Error | null) => void): void {
    this.peer?.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    const peer = this.peer;
    if (peer && !peer.destroyed && !peer.readableEnded) peer.push(null);
    this.pendingCallback = null;
    cb(err);
  }
}

/** Two connected in-memory duplex streams. `highWaterMark` bounds each direction's buffer. */
export function duplexPair(highWaterMark = 64 * 1024): [Duplex, Duplex] {
  const a = new Side({ highWaterMark, allowHalfOpen: true });
  const b = new Side({ highWaterMark, allowHalfOpen: true });
  a.peer = b;
  b.peer = a;
  return [a, b];
}
