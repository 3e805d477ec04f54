import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { ENDPOINT_KINDS, type Topology } from '../config/index.js';
import { GALERA_PORTS } from '../engines/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';

/**
 * Firewall rules `deploy` installs on each host (iptables, in the host's INPUT chain) and `down`
 * removes: ports that must answer only the cluster's own nodes. memcached has no authentication
 * at all (anyone who reaches it can list and overwrite keys), Galera's group, IST and SST
 * ports admit any machine that knows the cluster name, and Redis and Sentinel have only a
 * password (no TLS on Debian 12's build, see src/hosts/README.md): a stranger who reaches them may
 * guess it, and replication runs between them in clear. The operator's machine, which need not
 * be a node, reaches all of them through each host's agent instead (`hastack status`, chaos,
 * `failover`, `audit`: run-info.ts, redis-admin.ts). MariaDB's port stays open: the operator's
 * failover and chaos talk to it directly, and its admin account names its hosts
 * (`database.adminFrom`).
 *
 * `guardedPorts` is the one list: add a port there and every host's rules follow.
 */
export interface GuardedPort {
  /** `<node>/<kind>` the port belongs to. */
  readonly serviceId: string;
  readonly address: string;
  readonly port: number;
  readonly proto: 'tcp' | 'udp';
  /** Why it is closed to the outside, shown in the rule's comment. */
  readonly why: string;
  /** Who may reach it; absent: every cluster node (`allowedSources`). */
  readonly sources?: readonly string[];
}

/** A node bound to a loopback address cannot be reached from another machine: nothing to guard. */
function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/** The ports of `node` that answer only cluster nodes. Pure. */
export function guardedPorts(topo: Topology, node: string): GuardedPort[] {
  const out: GuardedPort[] = [];
  for (const svc of topo.services.filter((s) => s.node === node && !isLoopback(s.address))) {
    if (svc.kind === 'memcached') out.push({ serviceId: svc.id, address: svc.address, port: svc.port, proto: 'tcp', why: 'memcached has no authentication' });
    if (svc.kind === 'redis') out.push({ serviceId: svc.id, address: svc.address, port: svc.port, proto: 'tcp', why: 'redis has only a password and replicates in clear' });
    if (svc.kind === 'sentinel') out.push({ serviceId: svc.id, address: svc.address, port: svc.port, proto: 'tcp', why: 'sentinel has only a password and can reconfigure redis' });
    if (svc.kind === 'etcd') {
      // The decision quorum: its client port has only a password and its peer port (raft between
      // members, client port + 1) has none, so both answer cluster nodes only.
      out.push({ serviceId: svc.id, address: svc.address, port: svc.port, proto: 'tcp', why: 'etcd has only a password' });
      out.push({ serviceId: svc.id, address: svc.address, port: svc.port + 1, proto: 'tcp', why: 'etcd peers (raft) have no authentication' });
    }
    // The local endpoints serve the node's own app and workers: no other machine connects to them.
    if ((ENDPOINT_KINDS as readonly string[]).includes(svc.kind))
      out.push({ serviceId: svc.id, address: svc.address, port: svc.port, proto: 'tcp', why: 'local endpoint: this node only', sources: [svc.address] });
    if (svc.kind === 'mariadb' && topo.config.database.mode === 'galera') {
      for (const [name, port] of Object.entries(GALERA_PORTS))
        out.push({ serviceId: svc.id, address: svc.address, port, proto: 'tcp', why: `galera ${name}: cluster members only` });
    }
  }
  return out;
}

/** The sources allowed to reach a guarded port: every node of the cluster (itself included). */
export function allowedSources(topo: Topology): string[] {
  return [...new Set(topo.nodes.map((n) => n.address))];
}

/**
 * The cluster's own chain (iptables names are at most 28 characters): `hastack-<cluster>`, or a
 * hash of the cluster name when that is too long.
 */
export function chainName(cluster: string): string {
  const plain = `hastack-${cluster}`;
  return plain.length <= 28 ? plain : `hastack-${createHash('sha1').update(cluster).digest('hex').slice(0, 12)}`;
}

/**
 * `iptables-restore --noflush` input for the node: the chain is declared (created, or emptied if
 * it exists), then per guarded port one ACCEPT per cluster node and a REJECT for the rest (a
 * reset: a stranger learns nothing, a misconfigured client of ours fails at once). Pure.
 */
export function renderRules(topo: Topology, node: string): string {
  const chain = chainName(topo.cluster);
  const lines = ['*filter', `:${chain} - [0:0]`];
  for (const g of guardedPorts(topo, node)) {
    const match = `-d ${g.address}/32 -p ${g.proto} -m ${g.proto} --dport ${g.port}`;
    for (const src of g.sources ?? allowedSources(topo)) lines.push(`-A ${chain} -s ${src}/32 ${match} -j ACCEPT`);
    const reject = g.proto === 'tcp' ? '-j REJECT --reject-with tcp-reset' : '-j DROP';
    lines.push(`-A ${chain} ${match} -m comment --comment "${g.serviceId}: ${g.why}" ${reject}`);
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

const IPTABLES_TIMEOUT_MS = 10_000;

function iptables(args: readonly string[], input?: string): { ok: boolean; err: string } {
  try {
    execFileSync(args[0] === 'restore' ? 'iptables-restore' : 'iptables', args[0] === 'restore' ? args.slice(1) : [...args], {
      input: input ?? '',
      timeout: IPTABLES_TIMEOUT_MS,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    return { ok: true, err: '' };
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    return { ok: false, err: stderr || describeError(e) };
  }
}

/**
 * Installs (or replaces) the node's rules and the jump to them from INPUT. Idempotent; `-w`
 * waits for the xtables lock another tool may hold. Nothing to guard: removes the chain instead.
 */
export function applyFirewall(topo: Topology, node: string): { chain: string; rules: number } {
  const chain = chainName(topo.cluster);
  const guarded = guardedPorts(topo, node);
  if (guarded.length === 0) {
    removeFirewall(topo.cluster);
    return { chain, rules: 0 };
  }
  const r = iptables(['restore', '-w', '--noflush'], renderRules(topo, node));
  if (!r.ok)
    throw new HastackError(ErrorCode.SETUP_FAILED, `cannot install the firewall rules of ${node} (${r.err}); install iptables (apt-get install iptables), then deploy again`);
  if (!iptables(['-w', '-C', 'INPUT', '-j', chain]).ok) {
    const j = iptables(['-w', '-I', 'INPUT', '1', '-j', chain]);
    if (!j.ok) throw new HastackError(ErrorCode.SETUP_FAILED, `cannot add the jump to ${chain} in INPUT (${j.err})`);
  }
  return { chain, rules: guarded.length };
}

/** Removes the cluster's chain and its jump. Idempotent: nothing there is fine. */
export function removeFirewall(cluster: string): void {
  const chain = chainName(cluster);
  // -D removes one jump per call: a repeated apply by hand may have left several.
  for (let i = 0; i < 10 && iptables(['-w', '-D', 'INPUT', '-j', chain]).ok; i++);
  iptables(['-w', '-F', chain]);
  iptables(['-w', '-X', chain]);
}
