import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { Topology } from './topology.js';

/**
 * `up` writes the resolved topology to `<stateDir>/topology.json`; every service process of the
 * cluster (app, worker, lb, dns) and every later command reads that same file, so they agree on
 * addresses and ports without re-reading or re-resolving hastack.yaml.
 */
export function topologyFile(stateDir: string): string {
  return path.join(stateDir, 'topology.json');
}

export function writeTopology(topo: Topology): void {
  fs.mkdirSync(topo.stateDir, { recursive: true, mode: 0o700 });
  const file = topologyFile(topo.stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(topo, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

export function readTopology(stateDir: string): Topology {
  const file = topologyFile(stateDir);
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Topology;
  } catch {
    throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, `cannot read ${file}; run "hastack up" first`);
  }
}
