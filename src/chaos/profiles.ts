import type { Secrets, Topology } from '../config/index.js';
import { countPending, readFinalState } from './final-read.js';
import { countRecordsPending, readRecordsFinalState } from './final-read-records.js';
import type { FinalState } from './final-state.js';
import type { Operation } from './history.js';
import { fetchSkus, runWorkload, type WorkloadOptions } from './workload.js';
import { checkRecordsApp, runRecordsWorkload } from './workload-records.js';

/** `chaos.workload` in hastack.yaml: which app the clients speak to. */
export type WorkloadName = 'erp' | 'records';

/**
 * What a run needs to know of the app under test: how to drive it and how to read back, straight
 * from the database, what it stored. Everything else (faults, timing, checkers, report) is the
 * same for every app.
 */
export interface WorkloadProfile {
  readonly name: WorkloadName;
  /** Before the clock starts (the ERP: its items, restocked; records: the app answers); returns the workload to run. */
  prepare(topo: Topology, https: boolean): Promise<(opts: WorkloadOptions) => Promise<Operation[]>>;
  /** The run's writes and their jobs, by key prefix, from the primary database. */
  readFinal(topo: Topology, secrets: Secrets, keyPrefix: string): Promise<FinalState>;
  /** The run's work still pending: the grace period waits for 0. */
  countPending(topo: Topology, secrets: Secrets, keyPrefix: string): Promise<number>;
}

const ERP: WorkloadProfile = {
  name: 'erp',
  async prepare(topo, https) {
    const skus = await fetchSkus(topo, https);
    return (opts) => runWorkload(opts, skus);
  },
  readFinal: readFinalState,
  countPending,
};

const RECORDS: WorkloadProfile = {
  name: 'records',
  async prepare(topo, https) {
    await checkRecordsApp(topo, https);
    return runRecordsWorkload;
  },
  readFinal: readRecordsFinalState,
  countPending: countRecordsPending,
};

export function workloadProfile(name: WorkloadName): WorkloadProfile {
  return name === 'records' ? RECORDS : ERP;
}
