import HashRing from 'hashring';

/**
 * Which memcached node holds a key.
 *
 * Ketama consistent hashing (the `hashring` package, libketama-compatible: md5, 160 points per
 * node): every app server and worker maps a key to the same node without talking to each other,
 * and taking one node out moves only the keys that lived on it.
 *
 * Membership is fixed (every memcached service of the topology). A node that is down is skipped,
 * not removed: its keys go to the next node clockwise, which is exactly where `remove()` would
 * send them, and the continuum is never rebuilt (rebuilding can shift other nodes' points: with 7
 * equal nodes hashring's float arithmetic gives each 39 vnodes instead of 40).
 */
export class CacheRing {
  readonly nodes: readonly string[];
  private readonly ring: HashRing | undefined;

  constructor(nodes: readonly string[]) {
    this.nodes = [...new Set(nodes)];
    this.ring = this.nodes.length === 0 ? undefined : new HashRing([...this.nodes]);
  }

  /**
   * The node for `key`, skipping nodes for which `usable` returns false.
   * Undefined when the ring is empty or no node is usable.
   */
  nodeFor(key: string, usable: (node: string) => boolean = () => true): string | undefined {
    if (this.ring === undefined) return undefined;
    const owner = this.ring.get(key);
    if (owner === undefined || usable(owner)) return owner;
    for (const n of this.ring.range(key, this.nodes.length)) {
      if (usable(n)) return n;
    }
    return undefined;
  }
}
