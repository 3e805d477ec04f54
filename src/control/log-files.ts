import path from 'node:path';
import type { ServiceInstance } from '../config/index.js';

/** Where a supervised service's output goes (the supervisor writes it, `logs` and the chaos checkers read it). */
export function logFileOf(svc: ServiceInstance): string {
  return path.join(svc.dir, 'service.log');
}
