import fs from 'node:fs';
import { servicesOf, type Topology } from '../config/index.js';
import { logFileOf } from '../control/index.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * The wall-clock time (ms) of a Sentinel log line such as
 * `9263:X 29 Nov 2026 10:21:48.829 # +switch-master hastack ...`, or undefined. Redis logs in
 * local time, as `new Date(y, m, d, ...)` reads it. Pure.
 */
export function sentinelLineTime(line: string): number | undefined {
  const m = /^\d+:X (\d{1,2}) (\w{3}) (\d{4}) (\d{2}):(\d{2}):(\d{2})\.(\d{3}) /.exec(line);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2] ?? '');
  if (month < 0) return undefined;
  return new Date(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7])).getTime();
}

/**
 * Sentinel's own failover time: from `sinceMs` (the fault, wall clock) to the first
 * `+switch-master` any Sentinel logged after it. Undefined when there are no Sentinels or none
 * switched. Reads each Sentinel's service.log (only its last 256 KB: the run is recent).
 */
export function sentinelFailoverMs(topo: Topology, sinceMs: number): number | undefined {
  let first: number | undefined;
  for (const svc of servicesOf(topo, 'sentinel')) {
    let text: string;
    try {
      const file = logFileOf(svc);
      const size = fs.statSync(file).size;
      const fd = fs.openSync(file, 'r');
      try {
        const len = Math.min(size, 256 * 1024);
        const buf = Buffer.alloc(len);
        fs.readSync(fd, buf, 0, len, size - len);
        text = buf.toString('utf8');
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (!line.includes('+switch-master')) continue;
      const t = sentinelLineTime(line);
      if (t !== undefined && t >= sinceMs && (first === undefined || t < first)) first = t;
    }
  }
  return first === undefined ? undefined : first - sinceMs;
}
