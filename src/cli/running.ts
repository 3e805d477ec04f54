import type { Topology } from '../config/index.js';
import { supervisorAlive } from '../control/index.js';
import { runtimeCapabilities } from '../runtime/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { readRunState, substrateFor } from '../substrate/index.js';
import type { ConfigOptions } from './config-source.js';
import { invokedAs } from './output.js';

/**
 * For a cluster this machine supervises (local, netns): the command that starts it when its
 * supervisor is gone, else undefined (running, or on hosts, where the controller runs it).
 */
export function stoppedClusterStart(topo: Topology, opts: ConfigOptions): string | undefined {
  if (!runtimeCapabilities(topo.config).startsFromNothing || supervisorAlive(substrateFor(topo), readRunState(topo.stateDir))) return undefined;
  const from = opts.preset !== undefined ? ` --preset ${opts.preset}` : opts.file !== undefined ? ` -f ${opts.file}` : '';
  return `${invokedAs()} up${from} --detach`;
}

/** Refuses at once, with the command that starts it, a command that needs the cluster running. */
export function requireRunning(topo: Topology, opts: ConfigOptions): void {
  const start = stoppedClusterStart(topo, opts);
  if (start !== undefined) throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, `cluster ${topo.cluster} is stopped (no supervisor runs it); start it with: ${start}`);
}
