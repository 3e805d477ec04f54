export { startWorker } from './worker.js';
export type { WorkerOptions } from './worker.js';
export { JobLedger, jobKey } from './job-ledger.js';
