import { controllerNode, secretNeeds, type Config, type NodeInstance, type SecretName, type ServiceKind, type Topology } from '../config/index.js';
import { backupNodeOf } from '../hosts/units.js';
import { ENGINE_BINARIES, type EngineBinary } from '../engines/binaries.js';
import { guardedPorts } from '../hosts/firewall.js';

/** The Debian programs each kind of service runs; our own services need only Node. */
const BINARIES_OF: Readonly<Record<ServiceKind, readonly string[]>> = {
  mariadb: ['mariadbd', 'mariadb-install-db', 'mariabackup', 'mariadb'],
  redis: ['redis-server'],
  sentinel: ['redis-sentinel'],
  memcached: ['memcached'],
  app: [],
  worker: [],
  lb: [],
  dns: [],
};

/** What one host must have before `deploy` installs hastack's units on it. Pure. */
export interface HostNeeds {
  readonly node: string;
  readonly binaries: readonly EngineBinary[];
  /** Extra Debian packages with no binary check of ours (keepalived for a floating address). */
  readonly packages: readonly string[];
  /** Addresses and ports the node's services will listen on. */
  readonly listens: ReadonlyArray<{ readonly id: string; readonly address: string; readonly port: number }>;
  /** The secrets its services need: the only ones `deploy` sends it (SECRETS_OF). */
  readonly secrets: readonly SecretName[];
}

/** The secrets a node carries: its services' (SECRETS_OF), everything on the controller's node. Pure. */
export function nodeSecretNames(topo: Topology, node: NodeInstance): SecretName[] {
  const backup = topo.config.backup.schedule !== undefined && backupNodeOf(topo) === node.name;
  const names = secretNeeds(node.services, { controller: controllerNode(topo.config, topo.nodes).name === node.name, backup });
  // keepalived (and its VRRP password) runs only with a floating address.
  return topo.config.lb.vip !== undefined ? names : names.filter((k) => k !== 'vrrpPassword');
}

export function hostNeeds(topo: Topology, node: NodeInstance): HostNeeds {
  const names = new Set<string>();
  for (const kind of node.services) for (const b of BINARIES_OF[kind]) names.add(b);
  const cfg: Config = topo.config;
  if (node.services.includes('mariadb')) {
    // Backups and replica rebuilds copy with rsync; Galera's state transfer streams through socat.
    names.add('rsync');
    if (cfg.database.mode === 'galera') names.add('libgalera_smm.so').add('socat');
  }
  const binaries = ENGINE_BINARIES.filter((b) => names.has(b.binary));
  const packages = cfg.lb.vip !== undefined && node.services.includes('lb') ? ['keepalived'] : [];
  // The rules that close memcached and Galera's ports to machines outside the cluster.
  if (guardedPorts(topo, node.name).length > 0) packages.push('iptables');
  const listens = topo.services.filter((s) => s.node === node.name).map((s) => ({ id: s.id, address: s.address, port: s.port }));
  return { node: node.name, binaries, packages, listens, secrets: nodeSecretNames(topo, node) };
}
