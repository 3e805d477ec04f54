export { startWorker } from './worker.js';
export type { WorkerOptions } from './worker.js';
