import net from 'node:net';
import { parseReply, type Expect, type Reply } from './protocol.js';

/** The outcome of one operation: a reply, or why there is none (never a thrown error). */
export type OpResult = Reply | { readonly kind: 'failed'; readonly reason: string };

interface Pending {
  readonly expect: Expect;
  readonly done: (r: OpResult) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * One TCP connection to one memcached node, reused for every operation and pipelined: the text
 * protocol answers in request order, so replies are matched to a FIFO of pending operations.
 *
 * Any trouble (timeout, socket error, a reply we cannot parse) destroys the socket and fails
 * every pending operation: on a pipelined stream an unanswered request blocks all later ones
 * anyway, and a fresh connection on loopback or a LAN costs well under a millisecond.
 * The next operation reconnects.
 */
export class MemcachedConnection {
  private socket: net.Socket | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private readonly pending: Pending[] = [];
  private closed = false;

  constructor(
    readonly host: string,
    readonly port: number,
  ) {}

  /** Sends `payload` and resolves with the reply, or `failed` after `timeoutMs`. Never rejects. */
  request(payload: Buffer, expect: Expect, timeoutMs: number): Promise<OpResult> {
    if (this.closed) return Promise.resolve({ kind: 'failed', reason: 'connection closed' });
    return new Promise<OpResult>((resolve) => {
      let settled = false;
      const done = (r: OpResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        // Timers run before the poll phase: if this process was busy, the reply may already sit
        // in the socket's receive buffer. setImmediate runs after the next poll phase, so a
        // reply that arrived in time is read first and the op is not failed for our own lag.
        setImmediate(() => {
          if (!settled) this.fail(`no reply within ${timeoutMs} ms`);
        });
      }, timeoutMs);
      const socket = this.ensureSocket();
      this.pending.push({ expect, done, timer });
      socket.write(payload);
    });
  }

  /** Fails every pending op and drops the socket; the next request reconnects. */
  private fail(reason: string): void {
    const socket = this.socket;
    this.socket = undefined;
    this.buf = Buffer.alloc(0);
    socket?.destroy();
    for (const p of this.pending.splice(0)) p.done({ kind: 'failed', reason });
  }

  private ensureSocket(): net.Socket {
    if (this.socket) return this.socket;
    const socket = net.createConnection({ host: this.host, port: this.port, noDelay: true });
    socket.setKeepAlive(true, 10_000);
    socket.on('data', (chunk: Buffer) => {
      if (socket !== this.socket) return;
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.drain();
    });
    // Error listener always attached: an unhandled 'error' would crash the process.
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (socket === this.socket) this.fail(e.code ?? e.message);
    });
    socket.on('close', () => {
      if (socket === this.socket) this.fail('connection closed by the server');
    });
    this.socket = socket;
    return socket;
  }

  private drain(): void {
    for (;;) {
      const head = this.pending[0];
      if (!head) {
        // Bytes nobody asked for: the stream is out of step with our FIFO.
        if (this.buf.length > 0) this.fail('unsolicited data from the server');
        return;
      }
      const parsed = parseReply(this.buf, head.expect);
      if (!parsed) return;
      this.buf = this.buf.subarray(parsed.bytes);
      this.pending.shift();
      if (parsed.reply.kind === 'error' && parsed.reply.desync) {
        head.done(parsed.reply);
        this.fail(parsed.reply.message);
        return;
      }
      head.done(parsed.reply);
    }
  }

  close(): void {
    this.closed = true;
    this.fail('connection closed');
  }
}
