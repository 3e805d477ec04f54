import os from 'node:os';
import type { Secrets, Topology } from '../config/index.js';
import { serviceManagerFor, type ServiceManager } from './service-manager.js';
import type { UnitSpec, UnitsOptions } from './units.js';

/** Where the agent runs: its state directory and the host's own node program and CLI. */
export interface AgentEnv {
  /** `--state`: `<hosts.stateDir>/<cluster>` on this host. */
  readonly stateDir: string;
  readonly nodeBin: string;
  readonly cliMain: string;
}

export const asRoot = (): boolean => os.userInfo().uid === 0;

export function unitsOptions(env: AgentEnv, secrets: Secrets): UnitsOptions {
  return { nodeBin: env.nodeBin, cliMain: env.cliMain, asRoot: asRoot(), secrets };
}

/** hosts.serviceManager for this node's units. */
export function managerFor(env: AgentEnv, topo: Topology, specs: readonly UnitSpec[]): ServiceManager {
  return serviceManagerFor(topo.config.hosts.serviceManager, { stateDir: topo.stateDir, specs, nodeBin: env.nodeBin, cliMain: env.cliMain });
}
