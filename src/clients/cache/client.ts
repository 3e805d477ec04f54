import type { Logger } from '../../shared/log.js';
import { ErrorCode, HastackError } from '../../shared/errors.js';
import { MemcachedConnection, type OpResult } from './connection.js';
import { cacheKey, isSafePrefix } from './keys.js';
import { encodeDelete, encodeFlushAll, encodeGet, encodeSet, encodeVersion } from './protocol.js';
import { CacheRing } from './ring.js';

/**
 * The cache as applications see it. A cache is an optimisation: every method resolves, and a
 * node that is down, slow or confused makes `get` a miss and `set`/`delete` a no-op (they
 * resolve `false`). Values are JSON; `get<T>` does not check that the stored value is a T.
 */
export interface Cache {
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** `ttlSeconds` from 1 to 30 days (memcached reads larger numbers as a Unix time). */
  set(key: string, value: unknown, ttlSeconds: number): Promise<boolean>;
  delete(key: string): Promise<boolean>;
}

export interface CacheNodeHealth {
  readonly node: string;
  readonly up: boolean;
  /** Last failure reason while down. */
  readonly reason?: string;
}

export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  /** Operations that failed or timed out (counted as misses / no-ops). */
  readonly failures: number;
}

export interface CacheClientOptions {
  /**
   * Budget of one operation, connect included. 50 ms: memcached answers in well under a
   * millisecond on loopback or a LAN, so 50 ms is far beyond a healthy reply yet small next to a
   * page's latency budget; a stalled node (SIGSTOP, a host gone without a RST) costs a request at
   * most this, and after `failuresToEject` such misses it costs nothing (the node is skipped).
   */
  readonly opTimeoutMs?: number;
  /** Consecutive failures that take a node out of the ring (2: one lost packet is not an outage). */
  readonly failuresToEject?: number;
  /** First re-probe of an ejected node (ms); doubles up to `probeMaxMs`. */
  readonly probeMinMs?: number;
  readonly probeMaxMs?: number;
  readonly log?: Logger;
}

interface NodeState {
  readonly id: string;
  readonly conn: MemcachedConnection;
  consecutiveFailures: number;
  down: boolean;
  reason?: string;
  probeAttempt: number;
  probeTimer?: NodeJS.Timeout;
}

// 1 MB is memcached's default item size limit (-I); larger sets would only be refused.
const MAX_VALUE_BYTES = 1024 * 1024 - 512;
const MAX_TTL_S = 30 * 24 * 3600;

/**
 * A memcached ring client: ketama over every node, one reused connection per node.
 *
 * A node that fails `failuresToEject` operations in a row is ejected: its keys go to the next
 * node of the ring (misses at first, then cached again there) and no request waits on it. A
 * timer re-probes it (`version`) with backoff; when it answers it is flushed before it takes its
 * keys back, because while it was out this client may have missed invalidations for keys it
 * still holds (a SIGSTOPped node comes back with its old data). Other processes decide for
 * themselves; between them a stale read is bounded by the TTL the app chose, which is why apps
 * should use short TTLs for data that changes.
 */
export class CacheClient implements Cache {
  private readonly ring: CacheRing;
  private readonly nodes = new Map<string, NodeState>();
  private readonly opTimeoutMs: number;
  private readonly failuresToEject: number;
  private readonly probeMinMs: number;
  private readonly probeMaxMs: number;
  private readonly log: Logger | undefined;
  private counters = { hits: 0, misses: 0, failures: 0 };
  private closed = false;

  constructor(nodes: ReadonlyArray<{ readonly address: string; readonly port: number }>, opts: CacheClientOptions = {}) {
    this.opTimeoutMs = opts.opTimeoutMs ?? 50;
    this.failuresToEject = opts.failuresToEject ?? 2;
    // 500 ms first: a restarted memcached is up within tens of ms; 5 s cap keeps a long outage cheap.
    this.probeMinMs = opts.probeMinMs ?? 500;
    this.probeMaxMs = opts.probeMaxMs ?? 5_000;
    this.log = opts.log;
    const ids: string[] = [];
    for (const n of nodes) {
      const id = `${n.address}:${n.port}`;
      ids.push(id);
      this.nodes.set(id, { id, conn: new MemcachedConnection(n.address, n.port), consecutiveFailures: 0, down: false, probeAttempt: 0 });
    }
    this.ring = new CacheRing(ids);
  }

  /** A view of this client whose keys all start with `prefix` (one namespace per app). */
  withPrefix(prefix: string): Cache {
    if (!isSafePrefix(prefix)) {
      throw new HastackError(ErrorCode.APP_INVALID, `cache prefix "${prefix}" has spaces or control characters or is too long`);
    }
    return {
      get: <T>(key: string) => this.getRaw<T>(cacheKey(prefix, key)),
      set: (key, value, ttl) => this.setRaw(cacheKey(prefix, key), value, ttl),
      delete: (key) => this.deleteRaw(cacheKey(prefix, key)),
    };
  }

  get<T = unknown>(key: string): Promise<T | undefined> {
    return this.getRaw<T>(cacheKey('', key));
  }

  set(key: string, value: unknown, ttlSeconds: number): Promise<boolean> {
    return this.setRaw(cacheKey('', key), value, ttlSeconds);
  }

  delete(key: string): Promise<boolean> {
    return this.deleteRaw(cacheKey('', key));
  }

  health(): CacheNodeHealth[] {
    return [...this.nodes.values()].map((n) => (n.down ? { node: n.id, up: false, reason: n.reason ?? 'down' } : { node: n.id, up: true }));
  }

  stats(): CacheStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const n of this.nodes.values()) {
      if (n.probeTimer) clearTimeout(n.probeTimer);
      n.conn.close();
    }
  }

  private async getRaw<T>(key: string): Promise<T | undefined> {
    const r = await this.op(key, encodeGet(key), 'get');
    if (r?.kind !== 'value') {
      this.counters.misses++;
      return undefined;
    }
    try {
      const v = JSON.parse(r.data.toString('utf8')) as T;
      this.counters.hits++;
      return v;
    } catch {
      // Not ours (another client wrote a non-JSON value): a miss, and the caller's set fixes it.
      this.counters.misses++;
      return undefined;
    }
  }

  private async setRaw(key: string, value: unknown, ttlSeconds: number): Promise<boolean> {
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch {
      json = undefined;
    }
    if (json === undefined) return false;
    const data = Buffer.from(json, 'utf8');
    if (data.length > MAX_VALUE_BYTES) return false;
    const ttl = Math.max(1, Math.min(MAX_TTL_S, Math.round(ttlSeconds)));
    const r = await this.op(key, encodeSet(key, 0, ttl, data), 'store');
    return r?.kind === 'stored';
  }

  private async deleteRaw(key: string): Promise<boolean> {
    const r = await this.op(key, encodeDelete(key), 'delete');
    // NOT_FOUND is success: the key is not cached, which is what delete is for.
    return r?.kind === 'deleted' || r?.kind === 'not-found';
  }

  /** One operation on the key's node; undefined when no node could answer. */
  private async op(key: string, payload: Buffer, expect: 'get' | 'store' | 'delete'): Promise<OpResult | undefined> {
    if (this.closed) return undefined;
    const id = this.ring.nodeFor(key, (n) => this.nodes.get(n)?.down !== true);
    const node = id === undefined ? undefined : this.nodes.get(id);
    if (!node) return undefined;
    const r = await node.conn.request(payload, expect, this.opTimeoutMs);
    if (r.kind === 'failed' || (r.kind === 'error' && r.desync)) {
      this.counters.failures++;
      this.noteFailure(node, r.kind === 'failed' ? r.reason : r.message);
      return undefined;
    }
    node.consecutiveFailures = 0;
    if (r.kind === 'error') this.counters.failures++;
    return r;
  }

  private noteFailure(node: NodeState, reason: string): void {
    node.consecutiveFailures++;
    node.reason = reason;
    if (node.down || node.consecutiveFailures < this.failuresToEject || this.closed) return;
    node.down = true;
    node.probeAttempt = 0;
    this.log?.warn({ memcached: node.id, reason }, 'memcached node ejected from the ring; its keys go to the next node');
    this.scheduleProbe(node);
  }

  private scheduleProbe(node: NodeState): void {
    const delay = Math.min(this.probeMaxMs, this.probeMinMs * 2 ** node.probeAttempt);
    node.probeAttempt++;
    node.probeTimer = setTimeout(() => void this.probe(node), delay);
    // Probing must not keep a finished process alive.
    node.probeTimer.unref();
  }

  private async probe(node: NodeState): Promise<void> {
    node.probeTimer = undefined;
    if (this.closed) return;
    // Off the request path, so a more lenient budget than an operation's (connect + one reply).
    const budget = Math.max(250, this.opTimeoutMs);
    const v = await node.conn.request(encodeVersion(), 'version', budget);
    const f = v.kind === 'version' ? await node.conn.request(encodeFlushAll(), 'flush', budget) : v;
    if (this.closed) return;
    if (f.kind === 'ok') {
      node.down = false;
      node.consecutiveFailures = 0;
      node.reason = undefined;
      this.log?.info({ memcached: node.id }, 'memcached node back in the ring (flushed first)');
      return;
    }
    node.reason = f.kind === 'failed' ? f.reason : f.kind;
    this.scheduleProbe(node);
  }
}
