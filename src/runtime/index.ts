import { substrateTraits, type Topology } from '../config/index.js';
import type { Runtime } from '../substrate/index.js';

export type { Runtime, RuntimeCapabilities, FaultRequest, LogTail } from '../substrate/index.js';
export { runtimeCapabilities } from '../substrate/index.js';

/**
 * The one place that picks where the cluster runs (STYLE 16): a supervisor on this machine over
 * the `local` or `netns` substrate, or agents on the hosts over SSH. Every command above asks the
 * runtime returned here, and its `capabilities`, rather than the config's substrate.
 *
 * Each is loaded only when picked: through their folders' indexes the two together cost a command
 * about a second of start-up (the supervisor, the tiers, the SSH agent code), which every `hastack`
 * command, and every agent call on a host, would pay. `runtimeCapabilities` answers without loading either.
 */
export async function runtimeFor(topo: Topology): Promise<Runtime> {
  if (substrateTraits(topo.config).supervised) return new (await import('../control/supervised-runtime.js')).SupervisedRuntime(topo);
  return new (await import('../hosts/runtime.js')).HostsRuntime(topo);
}
