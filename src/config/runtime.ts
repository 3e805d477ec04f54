import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { readJsonState, writeJsonAtomic } from '../shared/files.js';
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
  writeJsonAtomic(topologyFile(topo.stateDir), topo, 0o644);
}

function topologyProblem(v: unknown): string | undefined {
  const t = v as Partial<Topology> | null;
  if (typeof t !== 'object' || t === null) return 'not an object';
  if (typeof t.cluster !== 'string' || typeof t.stateDir !== 'string') return 'no cluster or stateDir';
  if (!Array.isArray(t.services) || !Array.isArray(t.nodes) || typeof t.config !== 'object') return 'no services, nodes or config';
  return undefined;
}

export function readTopology(stateDir: string): Topology {
  const file = topologyFile(stateDir);
  const t = readJsonState<Topology>(
    file,
    topologyProblem,
    'Every service of the cluster reads it. Stop the cluster ("hastack down"; it needs run.json only), move the file aside, and run "hastack up" to write it again from hastack.yaml',
  );
  if (!t) throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, `cannot read ${file}; run "hastack up" first`);
  return t;
}
