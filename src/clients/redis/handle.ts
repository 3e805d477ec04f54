import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../../shared/log.js';
import { describeError } from '../../shared/errors.js';
import { logGate } from './log-gate.js';

/**
 * Owns one ioredis client and keeps it usable: an error listener is always attached (an
 * unhandled 'error' event would crash the process), and a client that reaches status 'end'
 * without us closing it (ENGINE-NOTES: ioredis once stuck at "Connection is closed") is
 * replaced by a fresh one. Read `client` each time; do not keep it.
 */
export class RedisHandle {
  private current: Redis;
  private closing = false;
  private replacements = 0;
  private generations = 0;
  private replaceTimer: NodeJS.Timeout | undefined;
  private readonly errorGate = logGate();

  constructor(
    private readonly options: RedisOptions,
    private readonly log: Logger,
  ) {
    this.current = this.create();
  }

  get client(): Redis {
    return this.current;
  }

  /** ioredis status of the current client: 'ready' when usable. */
  get status(): string {
    return this.current.status;
  }

  /**
   * Counts (re)connections: it changes whenever the socket under `client` may have changed (a
   * reconnect after a failover, or a replaced client). WAIT-based durability checks compare it.
   */
  get generation(): number {
    return this.generations;
  }

  /** How many times a stuck client was replaced (for status output and tests). */
  get replaced(): number {
    return this.replacements;
  }

  /** PING within `timeoutMs`; false on timeout or error. Never throws. */
  async ping(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const pong = this.current.ping().then(
        (r) => r === 'PONG',
        () => false,
      );
      return await Promise.race([pong, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearTimeout(this.replaceTimer);
    const c = this.current;
    if (c.status === 'end') return;
    // QUIT when connected (pending replies are delivered), otherwise just drop the socket.
    if (c.status === 'ready') {
      // 1 s: QUIT is answered at once by a live server; do not hang a shutdown on a dead one.
      const quit = c.quit().catch(() => undefined);
      const timer = new Promise((resolve) => setTimeout(resolve, 1_000).unref());
      await Promise.race([quit, timer]);
    }
    c.disconnect();
  }

  private create(): Redis {
    const c = new Redis({ ...this.options, lazyConnect: false });
    c.on('error', (e: Error) => this.logError(e));
    // 'ready' fires after every (re)connection; 'close' when a socket goes away.
    c.on('ready', () => (this.generations += 1));
    c.on('close', () => (this.generations += 1));
    c.on('end', () => {
      if (this.closing || c !== this.current) return;
      this.log.warn({ connection: this.options.connectionName }, 'redis client ended without close(); replacing it');
      // 200 ms: do not spin if creation itself fails at once; a single stuck client is rare.
      this.replaceTimer = setTimeout(() => {
        if (this.closing) return;
        this.replacements++;
        this.current = this.create();
      }, 200);
    });
    return c;
  }

  private logError(e: Error): void {
    const msg = describeError(e);
    if (this.errorGate(msg)) this.log.warn({ connection: this.options.connectionName, err: msg }, 'redis client error (reconnecting)');
  }
}
