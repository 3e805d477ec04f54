import os from 'node:os';
import path from 'node:path';
import type { Config, EndpointKind, ServiceKind } from './schema.js';
import { DEFAULT_PORTS, endpointsOn } from './schema.js';
import { DEFAULT_APP_MODULE } from './app-schema.js';

/** One service placed on one node, with everything needed to start or reach it. */
export interface ServiceInstance {
  readonly node: string;
  readonly kind: ServiceKind;
  readonly address: string;
  readonly port: number;
  /** `.hastack/<cluster>/<node>/<service>/`: data, rendered config and log of this service. */
  readonly dir: string;
  /** `<node>/<service>`, unique in the cluster. */
  readonly id: string;
}

export interface NodeInstance {
  readonly name: string;
  readonly address: string;
  readonly services: readonly ServiceKind[];
}

/**
 * The resolved cluster: config plus addresses, ports, directories and initial roles.
 * Every process of the cluster reads the same one (written to `topology.json` by `up`).
 */
export interface Topology {
  readonly cluster: string;
  readonly config: Config;
  /** Absolute path of `.hastack/<cluster>`. */
  readonly stateDir: string;
  /** Absolute path of the app module as given in the config (resolved against the config file); unused by a command app. */
  readonly appModule: string;
  /**
   * Absolute path of `app.dir` (default: the config file's folder): a command app's and worker's
   * working directory. On hosts, where `deploy` ships it: `<installDir>/app`.
   */
  readonly appDir: string;
  /**
   * `substrate: hosts`: a digest of the files of `app.dir` as `deploy` shipped them (set by
   * deploy, never by resolveTopology): part of the app's and worker's unit inputs, so new app
   * files restart them (one at a time). Absent on the other substrates and for module apps.
   */
  readonly appDigest?: string;
  readonly nodes: readonly NodeInstance[];
  readonly services: readonly ServiceInstance[];
  /** The MariaDB node started as primary (the first with `mariadb`); later failovers may move it. */
  readonly initialDbPrimary: string;
  /** The Redis node started as master (the first with `redis`); Sentinel may move it later. */
  readonly initialRedisMaster: string;
  /** Where the supervisor's admin API listens (never a node's address: .254 is outside them). */
  readonly admin: { readonly address: string; readonly port: number };
}

export function nodeAddress(addressBase: string, index: number): string {
  // .1, .2, ...: one address per node in the order of the config file.
  return `${addressBase}.${index + 1}`;
}

export function resolveTopology(config: Config, opts: { stateRoot: string; configDir: string }): Topology {
  // On real hosts every machine keeps its services' state at the same place (`hostStateDir`),
  // whatever the deploying machine's own directory is, and the app module is resolved inside the
  // installed package there; `stateDir` stays the deploying machine's (events, secrets, journal).
  const hosts = config.substrate === 'hosts';
  const stateDir = path.resolve(opts.stateRoot, config.cluster);
  const nodeRoot = hosts ? hostStateDir(config) : stateDir;
  // On netns the node addresses live on hastack's bridge; the admin API stays on loopback (host).
  const base = config.substrate === 'netns' ? config.netns.addressBase : config.addressBase;
  const endpoints = placedEndpoints(config);
  const nodes: NodeInstance[] = config.nodes.map((n, i) => ({
    name: n.name,
    address: n.address ?? nodeAddress(base, i),
    services: [...n.services, ...(n.services.includes('app') || n.services.includes('worker') ? endpoints : [])],
  }));
  const services: ServiceInstance[] = [];
  for (const n of nodes) {
    for (const kind of n.services) {
      services.push({
        node: n.name,
        kind,
        address: n.address,
        port: config.ports[kind] ?? DEFAULT_PORTS[kind],
        dir: hosts ? path.posix.join(nodeRoot, n.name, kind) : path.join(nodeRoot, n.name, kind),
        id: `${n.name}/${kind}`,
      });
    }
  }
  const appModule = config.app.module ?? DEFAULT_APP_MODULE;
  const firstWith = (kind: ServiceKind): string => services.find((s) => s.kind === kind)?.node ?? '';
  // The SSH key and known_hosts are relative to the config file; every later reader of the
  // topology (a CLI run from another directory) needs them absolute.
  const h = config.hosts;
  const fromConfig = (p: string): string => (p.startsWith('~/') ? path.join(os.homedir(), p.slice(2)) : path.resolve(opts.configDir, p));
  const withHosts: Config = hosts
    ? {
        ...config,
        hosts: {
          ...h,
          ...(h.identityFile !== undefined ? { identityFile: fromConfig(h.identityFile) } : {}),
          ...(h.knownHostsFile !== undefined ? { knownHostsFile: fromConfig(h.knownHostsFile) } : {}),
        },
      }
    : config;
  // lb.tls files are relative to the config file too; on hosts these are the operator's copies,
  // which deploy ships (src/lb/tls/files.ts says where they land).
  const t = config.lb.tls;
  const resolved: Config =
    t === undefined
      ? withHosts
      : {
          ...withHosts,
          lb: {
            ...withHosts.lb,
            tls: {
              ...t,
              ...(t.certificates !== undefined ? { certificates: t.certificates.map((c) => ({ certFile: fromConfig(c.certFile), keyFile: fromConfig(c.keyFile) })) } : {}),
              ...(t.acme?.caFile !== undefined ? { acme: { ...t.acme, caFile: fromConfig(t.acme.caFile) } } : {}),
            },
          },
        };
  return {
    cluster: config.cluster,
    config: resolved,
    stateDir,
    appModule: hosts ? path.posix.resolve(installedPackage(config), appModule) : path.resolve(opts.configDir, appModule),
    appDir: hosts ? hostAppDir(config) : path.resolve(opts.configDir, config.app.dir ?? '.'),
    nodes,
    services,
    initialDbPrimary: firstWith('mariadb'),
    initialRedisMaster: firstWith('redis'),
    // On hosts the controller's admin API is on loopback unless an admin network is configured.
    admin: { address: hosts ? config.hosts.adminAddress : `${config.addressBase}.254`, port: config.supervisor.adminPort },
  };
}

/**
 * The endpoint kinds a node carrying `app` or `worker` gets: none unless `endpoints.enabled`; the
 * database ones when the cluster has MariaDB, the Redis one when it has Redis. They come after the
 * node's own kinds, so every existing service keeps its place.
 */
function placedEndpoints(config: Config): EndpointKind[] {
  if (!endpointsOn(config)) return [];
  const has = (k: ServiceKind): boolean => config.nodes.some((n) => (n.services as readonly ServiceKind[]).includes(k));
  return [...(has('mariadb') ? (['db-endpoint', 'db-read-endpoint'] as const) : []), ...(has('redis') ? (['redis-endpoint'] as const) : [])];
}

/** The cluster's certificates and keys (the CA, each database node's, the edge's): `<stateDir>/tls` (the same path on a host, under its stateDir). */
export function tlsDir(stateDir: string): string {
  return path.join(stateDir, 'tls');
}

export interface EdgeTlsFiles {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Where `ensureEdgeCertificate` keeps the edge certificate of the cluster's own CA. */
export function edgeTlsFiles(topo: { readonly stateDir: string }): EdgeTlsFiles {
  const dir = tlsDir(topo.stateDir);
  // `lb_edge`: an underscore no node name may have, so a node called `edge` keeps `edge.crt` to itself.
  return { ca: path.join(dir, 'ca.crt'), cert: path.join(dir, 'lb_edge.crt'), key: path.join(dir, 'lb_edge.key') };
}

/** `substrate: hosts`: where every host keeps the cluster's state: `<hosts.stateDir>/<cluster>`. */
export function hostStateDir(config: Config): string {
  return path.posix.join(config.hosts.stateDir, config.cluster);
}

/**
 * Where deploy puts certificate `i` on a load-balancer host: `<hosts.stateDir>/<cluster>/lb-tls/`
 * (0700, owned by the load balancer's service user; keys 0600). Not `tls/`, which belongs to the
 * database server's user on a node that carries both.
 */
export function shippedCertificateFiles(config: Config, i: number): { certFile: string; keyFile: string } {
  const dir = shippedCertificateDir(config);
  return { certFile: path.posix.join(dir, `lb-${i}.crt`), keyFile: path.posix.join(dir, `lb-${i}.key`) };
}

export function shippedCertificateDir(config: Config): string {
  return path.posix.join(hostStateDir(config), 'lb-tls');
}

/**
 * Where deploy puts `lb.tls.acme.caFile` on a load-balancer host: beside the certificates (the
 * load balancer's user's alone). The config's path is the operator's copy.
 */
export function shippedAcmeCaFile(config: Config): string {
  return path.posix.join(shippedCertificateDir(config), 'acme-ca.pem');
}

/**
 * `substrate: hosts`: the installed hastack on every host. `deploy` unpacks each version into
 * `<installDir>/releases/<stamp>/` and points this symlink at it: the switch is one rename, and
 * running processes keep the files of the release they started from.
 */
export function installedPackage(config: Config): string {
  return path.posix.join(config.hosts.installDir, 'current');
}

/** `substrate: hosts`: where `deploy` ships `app.dir` on the app and worker hosts. */
export function hostAppDir(config: Config): string {
  return path.posix.join(config.hosts.installDir, 'app');
}

/** The topology as a host sees it: its state directory is the host's own (`hostStateDir`). */
export function remoteTopology(topo: Topology): Topology {
  return { ...topo, stateDir: hostStateDir(topo.config) };
}

/** `substrate: hosts`: the node whose controller serves the admin API (`hosts.controller`, else the first). */
export function controllerNode(config: Config, nodes: readonly NodeInstance[]): NodeInstance {
  const n = nodes.find((x) => x.name === config.hosts.controller) ?? nodes[0];
  if (!n) throw new Error('a cluster has at least one node (the schema checks it)');
  return n;
}

/**
 * `substrate: hosts`: the nodes that run a controller unit. The admin API's node always; with
 * `failover.auto` and the decision quorum (etcd services), also every etcd node, each in the
 * election through its own member, so the loss of any one machine leaves controllers that decide
 * (issue 23), and every database node, whose unit runs its primary guard (the lease and the
 * self-fence: through the first etcd member when the node has none). Node order, no duplicates.
 */
export function controllerNodes(config: Config, nodes: readonly NodeInstance[]): NodeInstance[] {
  const admin = controllerNode(config, nodes).name;
  const quorum = config.failover.auto && nodes.some((n) => n.services.includes('etcd'));
  return nodes.filter((n) => n.name === admin || (quorum && (n.services.includes('etcd') || n.services.includes('mariadb'))));
}

/** `database.delayedReplica`'s delay for `node` (seconds), 0 for every other node. */
export function replicaDelayS(config: Config, node: string): number {
  const d = config.database.delayedReplica;
  return d !== undefined && d.node === node ? d.delaySeconds : 0;
}

/**
 * The database servers the app's clients use (its router, the local endpoints, the ACME store):
 * every mariadb service but the delayed replica, which is never read from and never promoted.
 */
export function appDbServices(topo: Topology): ServiceInstance[] {
  return servicesOf(topo, 'mariadb').filter((s) => replicaDelayS(topo.config, s.node) === 0);
}

export function servicesOf(topo: Topology, kind: ServiceKind): ServiceInstance[] {
  return topo.services.filter((s) => s.kind === kind);
}

/** The node that keeps the binlog archive (and, on hosts, runs its archiver): backup.target, else the first database node (stable across role changes). */
export function archiveNodeOf(topo: Topology): string {
  return topo.config.backup.target ?? servicesOf(topo, 'mariadb')[0]?.node ?? topo.nodes[0]?.name ?? 'node';
}

export function findService(topo: Topology, node: string, kind: ServiceKind): ServiceInstance | undefined {
  return topo.services.find((s) => s.node === node && s.kind === kind);
}
