/**
 * Per-process single-flight: concurrent callers asking for the same key share one load.
 *
 * When a hot key expires, every request that misses would otherwise run the same database query
 * at once (a thundering herd, worst right after a memcached node dies and all its keys miss at
 * the same moment). Here the first caller runs the load and the others await its promise.
 * This is per process only: N app servers still make at most N loads per key, which is the
 * bound that matters for a database sized for a handful of app servers.
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, { promise: Promise<T>; stale: boolean }>();
  private joined = 0;

  /**
   * Runs `load(isStale)` for `key`, or joins the load already running for it. `isStale()` turns
   * true when `forget(key)` was called during the load (a write invalidated the key): the loader
   * should then not cache what it read, since it may predate the write.
   */
  run(key: string, load: (isStale: () => boolean) => Promise<T>): Promise<T> {
    const running = this.flights.get(key);
    if (running) {
      this.joined++;
      return running.promise;
    }
    const flight: { promise: Promise<T>; stale: boolean } = { promise: Promise.resolve() as Promise<T>, stale: false };
    flight.promise = (async () => {
      try {
        return await load(() => flight.stale);
      } finally {
        if (this.flights.get(key) === flight) this.flights.delete(key);
      }
    })();
    this.flights.set(key, flight);
    return flight.promise;
  }

  /**
   * A write changed `key`: a load already running may have read the old value, so it is marked
   * stale and callers arriving from now on start a fresh load instead of joining it.
   */
  forget(key: string): void {
    const flight = this.flights.get(key);
    if (!flight) return;
    flight.stale = true;
    this.flights.delete(key);
  }

  /** Callers that joined a running load instead of starting their own. */
  get joinedCount(): number {
    return this.joined;
  }

  /** Loads running now. */
  get size(): number {
    return this.flights.size;
  }
}
