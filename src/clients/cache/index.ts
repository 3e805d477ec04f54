import { servicesOf, type Topology } from '../../config/index.js';
import { CacheClient, type CacheClientOptions } from './client.js';

export { CacheClient } from './client.js';
export type { Cache, CacheClientOptions, CacheNodeHealth, CacheStats } from './client.js';
export { CacheRing } from './ring.js';
export { cacheKey } from './keys.js';

/** A ring over every memcached service of the topology, in topology order. */
export function createCacheClient(topo: Topology, opts: CacheClientOptions = {}): CacheClient {
  return new CacheClient(
    servicesOf(topo, 'memcached').map((s) => ({ address: s.address, port: s.port })),
    opts,
  );
}
