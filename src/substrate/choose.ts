import type { SubstrateName, Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { LocalSubstrate } from './local.js';
import { NetnsSubstrate } from './netns.js';
import type { Substrate } from './types.js';

/**
 * The supervised runtime's half of the runtime chooser (src/runtime picks the runtime; the
 * supervised one asks here which processes-on-this-machine substrate its supervisor spawns
 * through). A table on the config's name, read nowhere else; `hosts` has no substrate: its
 * processes are each host's own units.
 */
const SUBSTRATES: Readonly<Record<SubstrateName, ((topo: Topology) => Substrate) | undefined>> = {
  local: () => new LocalSubstrate(),
  netns: (topo) => new NetnsSubstrate(topo),
  hosts: undefined,
};

export function substrateFor(topo: Topology): Substrate {
  const make = SUBSTRATES[topo.config.substrate];
  if (make === undefined) {
    throw new HastackError(ErrorCode.INTERNAL, `cluster ${topo.cluster} runs on its hosts: no supervisor here owns its processes (ask the runtime, src/runtime)`);
  }
  return make(topo);
}
