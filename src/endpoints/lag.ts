import { gtidCovers, type GtidPos } from '../clients/db/index.js';

/**
 * A replica's lag in seconds, from GTID positions alone: the endpoint records the writer's
 * `@@gtid_binlog_pos` at every probe round; a replica whose applied position covers what the
 * writer had at time t is at most (now − t) behind. Needs no privilege and no heartbeat table,
 * unlike Seconds_Behind_Master (which reads 0 while the IO thread is far behind, and NULL when a
 * thread stops). Precision is one probe period. Pure: the caller gives the clock.
 */
export class LagClock {
  #history: { readonly at: number; readonly pos: GtidPos }[] = [];

  /** `keepMs`: how far back to remember; a replica that covers nothing kept is "too far behind". */
  constructor(private readonly keepMs: number) {}

  /** The writer's binlog position, read at `at` (epoch ms). */
  record(at: number, writerPos: GtidPos): void {
    this.#history.push({ at, pos: writerPos });
    while (this.#history.length > 1 && (this.#history[0]?.at ?? at) < at - this.keepMs) this.#history.shift();
  }

  /**
   * Seconds `applied` is behind at `now`: 0 when it covers the newest recorded writer position,
   * else now minus the time of the newest position it covers; Infinity when it covers none kept
   * (or nothing is recorded yet: no writer seen, so no claim of freshness).
   */
  lagS(applied: GtidPos, now: number): number {
    const newest = this.#history[this.#history.length - 1];
    if (newest === undefined) return Number.POSITIVE_INFINITY;
    if (gtidCovers(applied, newest.pos)) return 0;
    for (let i = this.#history.length - 2; i >= 0; i--) {
      const h = this.#history[i];
      if (h !== undefined && gtidCovers(applied, h.pos)) return Math.max(0, (now - h.at) / 1000);
    }
    return Number.POSITIVE_INFINITY;
  }

  /** Forget everything (the writer changed: positions of the old one say nothing of the new). */
  reset(): void {
    this.#history = [];
  }
}
