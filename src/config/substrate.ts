import type { Config } from './schema.js';

/** Where the cluster's nodes live (config `substrate`). */
export type SubstrateName = Config['substrate'];

/**
 * What the rest of the code may know about where nodes live, as properties rather than names:
 * an engine asks "are this node's files on another machine?", never "is this `hosts`?". This
 * table and the runtime chooser (src/runtime) are the only places that read the substrate's name
 * (besides config validation, which checks node addresses per substrate).
 */
export interface SubstrateTraits {
  /**
   * One supervisor on this machine owns every process (local, netns). Otherwise each node is a
   * machine whose own service manager runs its services, driven by hastack's agent over SSH.
   */
  readonly supervised: boolean;
  /**
   * Each node is a machine of its own (hosts): a node's files (its MariaDB socket, its state)
   * are on that machine, traffic between nodes crosses a real network, and every service runs
   * as its own unprivileged user.
   */
  readonly nodesAreMachines: boolean;
  /**
   * Every node shares this machine's loopback interface (local): a connection between two nodes
   * may leave from 127.0.0.1 rather than from the node's own address.
   */
  readonly sharedLoopback: boolean;
  /**
   * The address this machine's own clients (the supervisor, the CLI) come from when they reach a
   * node, beside loopback and the node addresses: the netns bridge's host side.
   */
  readonly hostSideAddress?: string;
  /** Nodes have networks of their own that faults can cut (partition, isolate, cut): netns. */
  readonly networkFaults: boolean;
  /**
   * A node's network can be cut while its unix socket on this machine still answers (netns): the
   * controller must judge a node's reachability over TCP, as another machine would see it.
   */
  readonly tcpReachability: boolean;
}

const TRAITS: Readonly<Record<SubstrateName, (config: Config) => SubstrateTraits>> = {
  local: () => ({ supervised: true, nodesAreMachines: false, sharedLoopback: true, networkFaults: false, tcpReachability: false }),
  netns: (c) => ({ supervised: true, nodesAreMachines: false, sharedLoopback: false, hostSideAddress: `${c.netns.addressBase}.254`, networkFaults: true, tcpReachability: true }),
  hosts: () => ({ supervised: false, nodesAreMachines: true, sharedLoopback: false, networkFaults: false, tcpReachability: false }),
};

export function substrateTraits(config: Config): SubstrateTraits {
  return TRAITS[config.substrate](config);
}

/**
 * How a client on this machine reaches one service: its unix socket (a node whose files are here)
 * or its TCP address (a node on another machine, or a service with no socket).
 */
export type ServiceReach = { readonly via: 'socket'; readonly path: string } | { readonly via: 'tcp'; readonly host: string; readonly port: number };
