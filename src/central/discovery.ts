import { createSocket, type Socket } from 'node:dgram';
import type { Logger } from '../observability/logger.js';
import type { Identity } from '../protocol/index.js';
import { encodeReply, MAX_PACKET_BYTES, parseRequest } from './discovery-protocol.js';
import { RateLimiter } from './rate-limit.js';

// The central's UDP discovery responder (bpbroker's discover): answers a request only for names
// present in the service registry, only to the sender, and at most `ratePerSource` times per
// second per source address. Malformed, oversized and excess packets are dropped silently.

export interface DiscoveryResponderOptions {
  readonly host: string;
  /**
   * More addresses to hear requests on, bound to the same port (a broadcast address such as
   * 127.255.255.255: a socket bound to 127.0.0.1 does not receive what is broadcast there).
   * Answers always go out from the socket bound to `host`, so they come from its address.
   */
  readonly alsoHear?: readonly string[];
  /** 0 for any free port (tests). */
  readonly port: number;
  readonly node: string;
  readonly identity: Identity;
  /** Whether the registry holds `name`. */
  readonly has: (name: string) => boolean | Promise<boolean>;
  readonly ratePerSource: number;
  readonly log: Logger;
}

export class DiscoveryResponder {
  /** Requests answered, and packets dropped (malformed, unknown name, rate limited). */
  answered = 0;
  dropped = 0;

  readonly #extra: Socket[] = [];

  private constructor(
    private readonly socket: Socket,
    private readonly options: DiscoveryResponderOptions,
    private readonly limiter: RateLimiter,
  ) {}

  static async start(options: DiscoveryResponderOptions): Promise<DiscoveryResponder> {
    const socket = createSocket({ type: 'udp4' });
    const limiter = new RateLimiter({ perSecond: options.ratePerSource });
    const responder = new DiscoveryResponder(socket, options, limiter);
    await responder.#listen(socket, options.port, options.host);
    try {
      for (const host of options.alsoHear ?? []) {
        const extra = createSocket({ type: 'udp4' });
        responder.#extra.push(extra);
        await responder.#listen(extra, responder.port, host);
      }
    } catch (err) {
      await responder.close();
      throw err;
    }
    return responder;
  }

  #listen(socket: Socket, port: number, host: string): Promise<void> {
    const { log } = this.options;
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        socket.on('error', (err) => log('warn', 'discovery socket error', { error: String(err) }));
        socket.on('message', (msg, rinfo) => void this.#onPacket(msg, rinfo.address, rinfo.port));
        resolve();
      });
    });
  }

  /** The bound port. */
  get port(): number {
    return this.socket.address().port;
  }

  async #onPacket(msg: Buffer, address: string, port: number): Promise<void> {
    // Rate limit before parsing: a flood costs one bucket lookup per packet.
    if (msg.length > MAX_PACKET_BYTES || !this.limiter.allow(address)) {
      this.dropped += 1;
      return;
    }
    const req = parseRequest(msg);
    let known = false;
    try {
      known = req !== undefined && (await this.options.has(req.name));
    } catch (err) {
      this.options.log('warn', 'discovery lookup failed', { error: String(err) });
    }
    if (req === undefined || !known) {
      this.dropped += 1;
      return;
    }
    this.answered += 1;
    // The socket may have closed while the lookup ran.
    if (this.#closed) return;
    this.socket.send(encodeReply(req, this.options.node, this.options.identity), port, address);
  }

  #closed = false;

  async close(): Promise<void> {
    this.#closed = true;
    const closeOne = (socket: Socket): Promise<void> =>
      new Promise((resolve) => {
        try {
          socket.close(() => resolve());
        } catch {
          resolve();
        }
      });
    await Promise.all([this.socket, ...this.#extra].map(closeOne));
  }
}
