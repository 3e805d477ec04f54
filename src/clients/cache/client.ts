import type { Logger } from '../../shared/log.js';
import { ErrorCode, HastackError } from '../../shared/errors.js';
import { MemcachedConnection, type OpResult } from './connection.js';
import { cacheKey, isSafePrefix } from './keys.js';
import { encodeDelete, encodeFlushAll, encodeGet, encodeSet, encodeVersion } from './protocol.js';
import { CacheRing } from './ring.js';
import { SingleFlight } from './single-flight.js';

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
  /**
   * Read-through: the cached value, or `loader()`'s result, cached for `ttlSeconds`. Concurrent
   * callers of one key in this process share one `loader` call (no thundering herd on a miss).
   * `undefined` from the loader is returned and not cached (a missing row stays a database
   * question). Only the loader can reject (its own error, given to every caller sharing it);
   * the cache never does. Callers sharing a load get the same object: do not mutate it.
   */
  getOrLoad<T>(key: string, ttlSeconds: number, loader: () => Promise<T | undefined>): Promise<T | undefined>;
  /**
   * Delete-on-write: call after a write committed, with every key it made stale. Resolves true
   * when every key is gone; false means some entry may live until its TTL (a node was down).
   * A load of one of these keys running in this process is not cached (it may predate the write).
   */
  deleteMany(keys: readonly string[]): Promise<boolean>;
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
  /** Operations that failed, timed out or got a server error (counted as misses / no-ops). */
  readonly errors: number;
  /** @deprecated the same count as `errors` (the name used before `errors`). */
  readonly failures: number;
  /** Nodes out of the ring now. */
  readonly ejectedNodes: number;
  /** Ejections and rejoins since this client started. */
  readonly ejections: number;
  readonly rejoins: number;
  /** `getOrLoad` loader calls, and callers that shared another caller's load instead. */
  readonly loads: number;
  readonly coalesced: number;
}

/** A node leaving or re-entering this client's ring (for the event log and metrics). */
export interface CacheNodeEvent {
  readonly type: 'ejected' | 'rejoined';
  /** `address:port`. */
  readonly node: string;
  /** The topology node name when known (e.g. "cache1"). */
  readonly name?: string;
  /** Why it was ejected (the last failure). */
  readonly reason?: string;
  /** Consecutive failures that led to the ejection. */
  readonly failures?: number;
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
  /**
   * Put in front of every key (e.g. "<cluster>:"): two clusters or test runs sharing memcached
   * nodes never read each other's entries. `withPrefix` adds the app's namespace after it.
   */
  readonly keyPrefix?: string;
  /** Told of every ejection and rejoin; must not throw (a throw is caught and logged). */
  readonly onNodeEvent?: (e: CacheNodeEvent) => void;
  readonly log?: Logger;
}

export interface CacheNodeAddress {
  readonly address: string;
  readonly port: number;
  /** Topology node name, for events and logs. */
  readonly name?: string;
}

interface NodeState {
  readonly id: string;
  readonly name: string | undefined;
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
 *
 * Ejections and rejoins are counted (`stats()`) and reported to `onNodeEvent` (the cluster event
 * log, when built by `createCacheClient`). `getOrLoad` coalesces concurrent misses of one key in
 * this process into one load; `delete`/`deleteMany` make a load already running for that key
 * skip caching its (possibly older) result.
 */
export class CacheClient implements Cache {
  private readonly ring: CacheRing;
  private readonly nodes = new Map<string, NodeState>();
  private readonly opTimeoutMs: number;
  private readonly failuresToEject: number;
  private readonly probeMinMs: number;
  private readonly probeMaxMs: number;
  private readonly log: Logger | undefined;
  private readonly keyPrefix: string;
  private readonly onNodeEvent: ((e: CacheNodeEvent) => void) | undefined;
  private readonly flights = new SingleFlight<unknown>();
  private counters = { hits: 0, misses: 0, errors: 0, ejections: 0, rejoins: 0, loads: 0 };
  private closed = false;

  constructor(nodes: readonly CacheNodeAddress[], opts: CacheClientOptions = {}) {
    this.opTimeoutMs = opts.opTimeoutMs ?? 50;
    if (!(Number.isFinite(this.opTimeoutMs) && this.opTimeoutMs > 0)) {
      throw new HastackError(ErrorCode.CONFIG_INVALID, `cache opTimeoutMs must be a positive number of ms, got ${this.opTimeoutMs}`);
    }
    this.failuresToEject = Math.max(1, Math.floor(opts.failuresToEject ?? 2));
    this.keyPrefix = opts.keyPrefix ?? '';
    if (!isSafePrefix(this.keyPrefix)) {
      throw new HastackError(ErrorCode.CONFIG_INVALID, `cache keyPrefix "${this.keyPrefix}" has spaces or control characters or is too long`);
    }
    this.onNodeEvent = opts.onNodeEvent;
    // 500 ms first: a restarted memcached is up within tens of ms; 5 s cap keeps a long outage cheap.
    this.probeMinMs = opts.probeMinMs ?? 500;
    this.probeMaxMs = opts.probeMaxMs ?? 5_000;
    this.log = opts.log;
    const ids: string[] = [];
    for (const n of nodes) {
      const id = `${n.address}:${n.port}`;
      ids.push(id);
      this.nodes.set(id, { id, name: n.name, conn: new MemcachedConnection(n.address, n.port), consecutiveFailures: 0, down: false, probeAttempt: 0 });
    }
    this.ring = new CacheRing(ids);
  }

  /** A view of this client whose keys all start with `prefix` (one namespace per app). */
  withPrefix(prefix: string): Cache {
    const full = this.keyPrefix + prefix;
    if (!isSafePrefix(full)) {
      throw new HastackError(ErrorCode.APP_INVALID, `cache prefix "${prefix}" has spaces or control characters or is too long`);
    }
    return this.view(full);
  }

  get<T = unknown>(key: string): Promise<T | undefined> {
    return this.getRaw<T>(this.wireKey(key));
  }

  set(key: string, value: unknown, ttlSeconds: number): Promise<boolean> {
    return this.setRaw(this.wireKey(key), value, ttlSeconds);
  }

  delete(key: string): Promise<boolean> {
    return this.deleteRaw(this.wireKey(key));
  }

  getOrLoad<T>(key: string, ttlSeconds: number, loader: () => Promise<T | undefined>): Promise<T | undefined> {
    return this.loadRaw(this.wireKey(key), ttlSeconds, loader);
  }

  deleteMany(keys: readonly string[]): Promise<boolean> {
    return this.deleteManyRaw(keys.map((k) => this.wireKey(k)));
  }

  /** The key sent to memcached for `key` (this client's prefix, then `prefix`); for tests and tools. */
  wireKey(key: string, prefix = ''): string {
    return cacheKey(this.keyPrefix + prefix, key);
  }

  health(): CacheNodeHealth[] {
    return [...this.nodes.values()].map((n) => (n.down ? { node: n.id, up: false, reason: n.reason ?? 'down' } : { node: n.id, up: true }));
  }

  stats(): CacheStats {
    const c = this.counters;
    let ejectedNodes = 0;
    for (const n of this.nodes.values()) if (n.down) ejectedNodes++;
    return { ...c, failures: c.errors, ejectedNodes, coalesced: this.flights.joinedCount };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const n of this.nodes.values()) {
      if (n.probeTimer) clearTimeout(n.probeTimer);
      n.conn.close();
    }
  }

  private view(prefix: string): Cache {
    return {
      get: <T>(key: string) => this.getRaw<T>(cacheKey(prefix, key)),
      set: (key, value, ttl) => this.setRaw(cacheKey(prefix, key), value, ttl),
      delete: (key) => this.deleteRaw(cacheKey(prefix, key)),
      getOrLoad: <T>(key: string, ttl: number, loader: () => Promise<T | undefined>) => this.loadRaw(cacheKey(prefix, key), ttl, loader),
      deleteMany: (keys) => this.deleteManyRaw(keys.map((k) => cacheKey(prefix, k))),
    };
  }

  private loadRaw<T>(key: string, ttlSeconds: number, loader: () => Promise<T | undefined>): Promise<T | undefined> {
    const run = this.flights.run(key, async (isStale) => {
      const hit = await this.getRaw<T>(key);
      if (hit !== undefined) return hit;
      this.counters.loads++;
      const value = await loader();
      // A write deleted this key while we loaded: what we read may predate it, so serve it to
      // the callers who asked before the write but do not cache it.
      if (value !== undefined && !isStale()) await this.setRaw(key, value, ttlSeconds);
      return value;
    });
    // One flight map for every T: the key decides the type, as it does for get<T>.
    return run as Promise<T | undefined>;
  }

  private async deleteManyRaw(keys: readonly string[]): Promise<boolean> {
    const results = await Promise.all(keys.map((k) => this.deleteRaw(k)));
    return results.every(Boolean);
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
    // Before the network round trip: a load that started earlier must not cache what it read.
    this.flights.forget(key);
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
      this.counters.errors++;
      this.noteFailure(node, r.kind === 'failed' ? r.reason : r.message);
      return undefined;
    }
    node.consecutiveFailures = 0;
    if (r.kind === 'error') this.counters.errors++;
    return r;
  }

  private noteFailure(node: NodeState, reason: string): void {
    node.consecutiveFailures++;
    node.reason = reason;
    if (node.down || node.consecutiveFailures < this.failuresToEject || this.closed) return;
    node.down = true;
    node.probeAttempt = 0;
    this.counters.ejections++;
    this.log?.warn({ memcached: node.id, reason }, 'memcached node ejected from the ring; its keys go to the next node');
    this.emit({ type: 'ejected', node: node.id, name: node.name, reason, failures: node.consecutiveFailures });
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
      this.counters.rejoins++;
      this.log?.info({ memcached: node.id }, 'memcached node back in the ring (flushed first)');
      this.emit({ type: 'rejoined', node: node.id, name: node.name });
      return;
    }
    node.reason = f.kind === 'failed' ? f.reason : f.kind;
    this.scheduleProbe(node);
  }

  /** A listener's failure (a full disk under the event log) must not turn into a cache error. */
  private emit(e: CacheNodeEvent): void {
    if (!this.onNodeEvent) return;
    try {
      this.onNodeEvent(e);
    } catch (err) {
      this.log?.warn({ memcached: e.node, err: err instanceof Error ? err.message : String(err) }, `could not record the cache ${e.type} event`);
    }
  }
}
