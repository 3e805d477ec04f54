import type { ClusterEvent } from '../../shared/events.js';

/**
 * Which memcached nodes are out of some cache client's ring, from the event log: every client
 * process logs `cache.ejected` and `cache.rejoined` with its pid, so a node is out while at least
 * one pid that ejected it has not logged it back. Pure fold, fed the log in order.
 */
export class EjectionTracker {
  private readonly out = new Map<string, Set<number>>();

  apply(events: readonly ClusterEvent[]): void {
    for (const e of events) {
      if ((e.type !== 'cache.ejected' && e.type !== 'cache.rejoined') || e.node === undefined) continue;
      const pid = typeof e.data?.pid === 'number' ? e.data.pid : 0;
      const pids = this.out.get(e.node) ?? new Set<number>();
      if (e.type === 'cache.ejected') pids.add(pid);
      else pids.delete(pid);
      if (pids.size === 0) this.out.delete(e.node);
      else this.out.set(e.node, pids);
    }
  }

  /** A restarted client process starts with a full ring: forget what a dead pid had ejected. */
  forgetPids(alive: (pid: number) => boolean): void {
    for (const [node, pids] of this.out) {
      for (const pid of pids) if (pid !== 0 && !alive(pid)) pids.delete(pid);
      if (pids.size === 0) this.out.delete(node);
    }
  }

  ejected(): string[] {
    return [...this.out.keys()].sort();
  }
}
