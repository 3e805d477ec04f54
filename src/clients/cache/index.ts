import { servicesOf, type Topology } from '../../config/index.js';
import { appendEvent } from '../../shared/events.js';
import { CacheClient, type CacheClientOptions, type CacheNodeEvent } from './client.js';

export { CacheClient } from './client.js';
export type { Cache, CacheClientOptions, CacheNodeAddress, CacheNodeEvent, CacheNodeHealth, CacheStats } from './client.js';
export { CacheRing } from './ring.js';
export { cacheKey } from './keys.js';

/** Writes a ring change to the cluster's event log (the dashboard and chaos reports read it). */
export function cacheEventRecorder(stateDir: string): (e: CacheNodeEvent) => void {
  return (e) => {
    const who = e.name ? `${e.name} (${e.node})` : e.node;
    const message =
      e.type === 'ejected'
        ? `memcached ${who} ejected from the cache ring of pid ${process.pid} after ${e.failures ?? '?'} failed operation(s): ${e.reason ?? 'unknown'}`
        : `memcached ${who} rejoined the cache ring of pid ${process.pid} (flushed first)`;
    try {
      appendEvent(stateDir, {
        type: e.type === 'ejected' ? 'cache.ejected' : 'cache.rejoined',
        message,
        node: e.name ?? e.node,
        service: 'memcached',
        data: { address: e.node, pid: process.pid, ...(e.reason === undefined ? {} : { reason: e.reason }) },
      });
    } catch {
      // An app on a host runs as its own user, which cannot write the node's event log (and a
      // full disk must not stop the app): the line goes to the service's own log instead.
      process.stderr.write(`${new Date().toISOString()} ${message}\n`);
    }
  };
}

/**
 * A ring over every memcached service of the topology, in topology order. Keys are prefixed with
 * the cluster name, the timeout, ejection threshold and probe backoff come from the config's
 * `memcached` section, and ejections and rejoins go to the cluster's event log, unless `opts`
 * says otherwise.
 */
export function createCacheClient(topo: Topology, opts: CacheClientOptions = {}): CacheClient {
  return new CacheClient(
    servicesOf(topo, 'memcached').map((s) => ({ address: s.address, port: s.port, name: s.node })),
    {
      keyPrefix: `${topo.cluster}:`,
      onNodeEvent: cacheEventRecorder(topo.stateDir),
      opTimeoutMs: topo.config.memcached.timeoutMs,
      failuresToEject: topo.config.memcached.failuresToEject,
      probeMinMs: topo.config.memcached.probeMinMs,
      probeMaxMs: topo.config.memcached.probeMaxMs,
      ...opts,
    },
  );
}
