import { substrateTraits, type Topology } from '../config/index.js';
import { SupervisedRuntime } from '../control/index.js';
import { HostsRuntime } from '../hosts/index.js';
import type { Runtime } from '../substrate/index.js';

export type { Runtime, RuntimeCapabilities, FaultRequest, LogTail } from '../substrate/index.js';

/**
 * The one place that picks where the cluster runs (STYLE 16): a supervisor on this machine over
 * the `local` or `netns` substrate, or agents on the hosts over SSH. Every command above asks the
 * runtime returned here, and its `capabilities`, rather than the config's substrate.
 */
export function runtimeFor(topo: Topology): Runtime {
  return substrateTraits(topo.config).supervised ? new SupervisedRuntime(topo) : new HostsRuntime(topo);
}
