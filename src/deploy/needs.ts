import { controllerNode, controllerNodes, vrrpVersion, type NodeInstance, type SecretName, type Topology } from '../config/index.js';
import { backupNodesOf, guardedPorts } from '../hosts/index.js';
import { HOST_FIREWALL_PACKAGE, hostPrograms, secretNeeds, type EngineBinary } from '../registry/index.js';

/** What one host must have before `deploy` installs hastack's units on it. Pure. */
export interface HostNeeds {
  readonly node: string;
  readonly binaries: readonly EngineBinary[];
  /** Debian packages checked with dpkg rather than by a binary (keepalived for a floating address, iptables). */
  readonly packages: readonly string[];
  /** Addresses and ports the node's services will listen on. */
  readonly listens: ReadonlyArray<{ readonly id: string; readonly address: string; readonly port: number }>;
  /** The secrets its services need: the only ones `deploy` sends it (the descriptors' `secrets`). */
  readonly secrets: readonly SecretName[];
}

/** The secrets a node carries: its services' (the descriptors' `secrets`), everything on the controllers' nodes. Pure. */
export function nodeSecretNames(topo: Topology, node: NodeInstance): SecretName[] {
  const backup = topo.config.backup.schedule !== undefined && backupNodesOf(topo).includes(node.name);
  const controller = controllerNode(topo.config, topo.nodes).name === node.name;
  // The other controllers of failover.auto (etcd nodes) act on every tier too: the crash plan's
  // passwords, but not the edge's secrets the admin API's node keeps for `secrets pull`.
  const deciding = controllerNodes(topo.config, topo.nodes).some((n) => n.name === node.name);
  const names = secretNeeds(node.services, { controller: deciding, backup });
  // keepalived (and its VRRP password) runs only with a floating address; the session-ticket
  // secret is needed only with HTTPS at the load balancers, and the controller keeps it either way
  // (like the ACME store's secrets below), so `secrets pull` recovers the operator's whole file.
  // With lb.vrrpVersion 3 (no authentication) only the controller keeps it, for a switch back to 2.
  const vip = topo.config.lb.vip !== undefined && (vrrpVersion(topo.config) === 2 || controller);
  const tls = topo.config.lb.tls !== undefined;
  // The load balancers reach the ACME store (src/lb/acme) only with lb.tls.acme; the database
  // nodes keep lbDbPassword either way (the primary makes the account when lb.tls.acme is turned on, drops it when off).
  const acme = controller || topo.config.lb.tls?.acme !== undefined;
  const dbNode = node.services.includes('mariadb');
  return names.filter((k) => (k !== 'vrrpPassword' || vip) && (k !== 'tlsTicketSecret' || tls || controller) && (acme || (k !== 'lbStoreKey' && (k !== 'lbDbPassword' || dbNode))));
}

/** The program a backup target runs to receive a copy (the database nodes have it from the registry). */
const BACKUP_RECEIVER: EngineBinary = {
  binary: 'rsync',
  package: 'rsync',
  purpose: 'backups: receive copies over SSH (backup.target)',
  versionArgs: ['--version'],
  required: true,
};

/** What the host of `node` needs: its service kinds' programs (the registry) plus the hosts runtime's firewall. */
export function hostNeeds(topo: Topology, node: NodeInstance): HostNeeds {
  const { binaries, packages } = hostPrograms(topo.config, node.services);
  // backup.target (or a node of backup.targets) without a database receives backups over SSH: rsync's server side.
  const { target, targets = [] } = topo.config.backup;
  const named = target === node.name || targets.some((t) => (typeof t === 'string' ? t : 'node' in t ? t.node : undefined) === node.name);
  if (named && !binaries.some((b) => b.binary === 'rsync')) binaries.push(BACKUP_RECEIVER);
  // The rules that close memcached and Galera's ports to machines outside the cluster.
  if (guardedPorts(topo, node.name).length > 0) packages.push(HOST_FIREWALL_PACKAGE);
  const listens = topo.services.filter((s) => s.node === node.name).map((s) => ({ id: s.id, address: s.address, port: s.port }));
  return { node: node.name, binaries, packages, listens, secrets: nodeSecretNames(topo, node) };
}
