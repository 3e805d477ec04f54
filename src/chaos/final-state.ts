/** What the cluster holds after the run and the grace period, read straight from the database. */
export interface FinalOrder {
  readonly id: number;
  readonly idempotencyKey: string | null;
  /** The workload writes the key into `customer` too, so an app that ignores the key still shows duplicates. */
  readonly customer: string;
  readonly status: string;
}

export interface FinalStock {
  readonly sku: string;
  readonly onHand: number;
  readonly ledgerSum: number;
  /** The lowest running balance of the ledger in id order (negative means stock went below zero). */
  readonly minRunningBalance: number;
}

export interface FinalState {
  readonly orders: readonly FinalOrder[];
  readonly stock: readonly FinalStock[];
  /** How many times the confirm job ran for each order id (job executions are recorded by the app). */
  readonly jobRuns: ReadonlyMap<number, number>;
  /**
   * The records workload: how this run's jobs were completed (`queue`: woken through Redis;
   * `sweep`: found pending in the database, e.g. after a wake-up lost with a Redis master).
   */
  readonly jobsVia?: Readonly<Record<string, number>>;
}
