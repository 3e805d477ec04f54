import net from 'node:net';
import type { Logger } from '../shared/log.js';

/** Where one spliced connection goes: an engine's node, by its id (the node name). */
export interface Upstream {
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

/**
 * What the splicer asks on every new client connection: the upstream to splice it to, waiting at
 * most until `deadline` (epoch ms) for one to exist; undefined when none did in time.
 */
export interface UpstreamChooser {
  choose(deadline: number): Promise<Upstream | undefined>;
  /** An upstream refused or dropped a fresh connection: look again (a probe round now). */
  suspect(id: string): void;
}

export interface SpliceLimits {
  /** Client connections at once; beyond it a new one is closed at once (counted in `refused`). */
  readonly maxConnections: number;
  /** Closed after this long with no byte either way. */
  readonly idleTimeoutMs: number;
  /** How long a new connection waits for an upstream before it is closed. */
  readonly holdMs: number;
  /** One upstream TCP connect, before trying again (still within holdMs). */
  readonly connectTimeoutMs: number;
}

export interface SpliceStats {
  readonly active: number;
  /** Clients waiting for an upstream (no writer yet). */
  readonly holding: number;
  /** Spliced connections per upstream id. */
  readonly byUpstream: Readonly<Record<string, number>>;
  readonly accepted: number;
  /** Closed at once: over maxConnections. */
  readonly refused: number;
  /** Closed after holdMs without an upstream. */
  readonly heldOut: number;
  /** Closed by `dropUpstream` (the writer or master changed). */
  readonly dropped: number;
}

interface Pair {
  readonly client: net.Socket;
  upstream: net.Socket | undefined;
  target: string | undefined;
}

// Between two connect attempts while holding: the chooser has usually asked for a probe round
// (suspect), which answers within ~100 ms on a LAN; no busy loop while the writer is gone.
const RETRY_PAUSE_MS = 100;

/**
 * A TCP listener that splices each client connection, byte for byte, to the upstream the chooser
 * names at connect time. No protocol parsing: the client authenticates to the engine itself, and
 * a client that sends garbage gets the engine's own protocol error on its own connection; nothing
 * it sends reaches another client's connection. Bounded: `maxConnections` clients, an idle
 * timeout, a hold deadline, and Node's stream back-pressure (pipe) between the two sockets, so a
 * slow reader stalls its own sender, never the process's memory.
 */
export class Splicer {
  readonly #server: net.Server;
  readonly #pairs = new Set<Pair>();
  #holding = 0;
  #accepted = 0;
  #refused = 0;
  #heldOut = 0;
  #dropped = 0;
  #closed = false;

  constructor(
    private readonly name: string,
    private readonly chooser: UpstreamChooser,
    private readonly limits: SpliceLimits,
    private readonly log: Logger,
  ) {
    // pauseOnConnect: nothing is read from the client until its upstream is there, so bytes sent
    // early (Redis clients send at once; MySQL clients wait for the greeting) stay in the kernel.
    this.#server = net.createServer({ pauseOnConnect: true, noDelay: true }, (c) => this.#accept(c));
    this.#server.on('error', (e) => this.log.error({ err: e }, `${this.name}: listener error`));
  }

  listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      // backlog 511: Node's default; connections past maxConnections are accepted and closed, so
      // the backlog never holds clients silently.
      this.#server.listen({ host, port, backlog: 511 }, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  /** The port it listens on (after `listen`; useful with port 0). */
  port(): number {
    const a = this.#server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  stats(): SpliceStats {
    const byUpstream: Record<string, number> = {};
    for (const p of this.#pairs) if (p.target !== undefined && p.upstream !== undefined) byUpstream[p.target] = (byUpstream[p.target] ?? 0) + 1;
    return { active: this.#pairs.size, holding: this.#holding, byUpstream, accepted: this.#accepted, refused: this.#refused, heldOut: this.#heldOut, dropped: this.#dropped };
  }

  /**
   * Closes every client connection spliced to `id` (both sockets, at once): a demoted writer or
   * an old Redis master must not keep taking commands through us. Returns how many were closed.
   */
  dropUpstream(id: string, why: string): number {
    let n = 0;
    for (const p of [...this.#pairs]) {
      if (p.target === id && p.upstream !== undefined) {
        n += 1;
        this.#end(p);
      }
    }
    this.#dropped += n;
    if (n > 0) this.log.warn({ upstream: id, closed: n }, `${this.name}: closed ${n} connection(s) to ${id}: ${why}`);
    return n;
  }

  /** Stops listening and closes every connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const p of [...this.#pairs]) this.#end(p);
    await closed;
  }

  #accept(client: net.Socket): void {
    this.#accepted += 1;
    if (this.#closed || this.#pairs.size >= this.limits.maxConnections) {
      this.#refused += 1;
      // A reset, not a FIN: the client's driver reports a refused connection at once.
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, upstream: undefined, target: undefined };
    this.#pairs.add(pair);
    client.on('error', () => this.#end(pair));
    client.on('close', () => this.#end(pair));
    client.setTimeout(this.limits.idleTimeoutMs, () => this.#end(pair));
    void this.#connect(pair);
  }

  async #connect(pair: Pair): Promise<void> {
    const deadline = Date.now() + this.limits.holdMs;
    this.#holding += 1;
    try {
      while (!pair.client.destroyed && !this.#closed) {
        const up = await this.chooser.choose(deadline);
        if (pair.client.destroyed) return;
        if (up === undefined) break;
        const sock = await this.#dial(up, Math.max(1, Math.min(this.limits.connectTimeoutMs, deadline - Date.now())));
        if (sock !== undefined) {
          if (pair.client.destroyed || this.#closed) {
            sock.destroy();
            return;
          }
          this.#splice(pair, up, sock);
          return;
        }
        this.chooser.suspect(up.id);
        if (Date.now() + RETRY_PAUSE_MS >= deadline) break;
        await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
      }
      if (!pair.client.destroyed) {
        this.#heldOut += 1;
        this.log.warn(`${this.name}: no upstream within ${this.limits.holdMs} ms; closing a new client connection`);
        this.#end(pair);
      }
    } finally {
      this.#holding -= 1;
    }
  }

  #dial(up: Upstream, timeoutMs: number): Promise<net.Socket | undefined> {
    return new Promise((resolve) => {
      const sock = net.connect({ host: up.host, port: up.port, noDelay: true });
      const fail = (): void => {
        clearTimeout(t);
        sock.destroy();
        resolve(undefined);
      };
      const t = setTimeout(fail, timeoutMs);
      sock.once('error', fail);
      sock.once('connect', () => {
        clearTimeout(t);
        sock.off('error', fail);
        resolve(sock);
      });
    });
  }

  #splice(pair: Pair, up: Upstream, sock: net.Socket): void {
    pair.upstream = sock;
    pair.target = up.id;
    sock.on('error', () => this.#end(pair));
    sock.on('close', () => this.#end(pair));
    pair.client.setNoDelay(true);
    // pipe(): back-pressure both ways (a full socket buffer pauses the other side's reads).
    pair.client.pipe(sock);
    sock.pipe(pair.client);
    pair.client.resume();
  }

  /** Ends both halves of a pair at once (destroy: no lingering half-open socket). Idempotent. */
  #end(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream?.destroy();
  }
}
