import fs from 'node:fs';
import os from 'node:os';
import { readSecrets, type Secrets, type ServiceInstance, type ServiceReach, type Topology } from '../config/index.js';
import { mariadbReach, recordDbRole } from '../engines/index.js';
import type { ServiceContext } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { tailFile } from '../shared/files.js';
import {
  runtimeCapabilities,
  substrateFor,
  type ClusterStatus,
  type FaultRequest,
  type LogTail,
  type Runtime,
  type RuntimeCapabilities,
  type RuntimeDownOptions,
  type RuntimeDownResult,
  type RuntimeUpOptions,
} from '../substrate/index.js';
import { requestFault } from './admin-client.js';
import { commitTopology, ensureNotRunning, prepareState, releaseSubstrate, stopCluster } from './cluster.js';
import { startDetached } from './detached.js';
import { driverFor } from '../drivers/index.js';
import { clusterStatus } from './status.js';
import { logFileOf } from './log-files.js';

/**
 * The supervised runtime: one supervisor process on this machine owns every service, spawned
 * through the `local` or `netns` substrate (src/substrate). Faults go through the supervisor's
 * admin API, because a process it owns that dies is restarted unless the supervisor itself keeps
 * the node down; a database node's role is recorded in its directory on this machine.
 */
export class SupervisedRuntime implements Runtime {
  readonly kind = 'supervised';
  readonly capabilities: RuntimeCapabilities;

  constructor(private readonly topo: Topology) {
    this.capabilities = runtimeCapabilities(topo.config);
  }

  async up(o: RuntimeUpOptions = {}): Promise<void> {
    const print = o.onEvent ?? (() => undefined);
    await prepareState(this.topo);
    await ensureNotRunning(this.topo, print);
    commitTopology(this.topo);
    await startDetached(this.topo, print);
  }

  async down(o: RuntimeDownOptions = {}): Promise<RuntimeDownResult> {
    const { wasRunning } = await stopCluster(this.topo, o.onEvent ? { onEvent: o.onEvent } : {});
    // stopCluster already released the substrate of a recorded run; --force sweeps after a crash
    // that left no record (or a record removed by hand).
    if (o.force === true && !wasRunning) await releaseSubstrate(this.topo, substrateFor(this.topo), o.onEvent);
    return { wasRunning, summary: wasRunning ? 'stopped; no process left' : 'was not running' };
  }

  status(secrets: Secrets, timeoutMs?: number): Promise<ClusterStatus> {
    return clusterStatus(this.topo, secrets, timeoutMs);
  }

  async logs(node: string, service: string | undefined, lines: number): Promise<LogTail[]> {
    return localLogFiles(this.topo, node, service).map((f) => ({ where: f, text: tailFile(f, lines), localFile: f }));
  }

  fault(f: FaultRequest): Promise<Record<string, unknown>> {
    return requestFault(this.topo, f);
  }

  async fenceNode(node: string): Promise<void> {
    await requestFault(this.topo, { action: 'kill-node', node });
  }

  async recordRole(svc: ServiceInstance, role: 'primary' | 'replica'): Promise<void> {
    recordDbRole(contextOf(this.topo, svc), role);
  }

  reach(svc: ServiceInstance): ServiceReach {
    return reachOf(this.topo, svc);
  }
}

function contextOf(topo: Topology, svc: ServiceInstance): ServiceContext {
  return { topo, secrets: readSecrets(topo.stateDir), svc, asRoot: os.userInfo().uid === 0 };
}

/** A database over its socket when its files are here (see `mariadbReach`); any other service at its address. */
export function reachOf(topo: Topology, svc: ServiceInstance): ServiceReach {
  return svc.kind === 'mariadb' ? mariadbReach(topo, svc) : { via: 'tcp', host: svc.address, port: svc.port };
}

/** The logs of a node's services (or one of them) on this machine: stdout/stderr, then the engine's own. */
export function localLogFiles(topo: Topology, node: string, service?: string): string[] {
  const svcs = topo.services.filter((s) => s.node === node && (service === undefined || s.kind === service));
  if (svcs.length === 0) {
    const nodes = [...new Set(topo.services.map((s) => s.node))].join(', ');
    throw new HastackError(ErrorCode.NOT_FOUND, `no ${service ?? 'service'} on node "${node}"; nodes: ${nodes}`);
  }
  const files: string[] = [];
  for (const svc of svcs) files.push(logFileOf(svc), ...(driverFor(svc.kind).logFiles?.(contextOf(topo, svc)) ?? []));
  return files.filter((f) => fs.existsSync(f));
}
