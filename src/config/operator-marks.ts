import fs from 'node:fs';
import path from 'node:path';
import type { ServiceInstance } from './topology.js';

/**
 * `hastack drain NODE` (issue 25): a file in the app server's own directory. While it exists the
 * app server's `/readyz` answers 503 `drained`, the signal every load balancer already reads as
 * "no new requests" (src/lb/health-state.ts `draining`), so requests in flight finish and new ones
 * go elsewhere. A file, not process state: the drain outlives a restart of the app server. Written
 * and removed by the supervisor (src/control), read by the app tier on each probe (one stat).
 */
export function drainMarkerFile(svc: Pick<ServiceInstance, 'dir'>): string {
  return path.join(svc.dir, 'drained-by-operator');
}

export function isDrainedByOperator(svc: Pick<ServiceInstance, 'dir'>): boolean {
  return fs.existsSync(drainMarkerFile(svc));
}
