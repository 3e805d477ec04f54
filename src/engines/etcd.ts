import fs from 'node:fs';
import path from 'node:path';
import { servicesOf, type ServiceInstance, type Topology } from '../config/index.js';
import type { ProbeResult, ProcessSpec, ServiceContext, ServiceDriver } from '../registry/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { writeFileAtomic } from './common.js';
import { EtcdClient } from './etcd-client.js';

/*
 * etcd (Debian's etcd-server 3.4), the decision quorum of the automatic failover (issue 23): the
 * store of the controllers' election and of the primary's lease (src/failover/quorum*.ts). Three
 * members (two servers and a witness in `simple`), so any one lost leaves a majority.
 */

/** The peer port: the client port + 1 (etcd's own 2379/2380 pair by default). */
export function etcdPeerPort(svc: ServiceInstance): number {
  return svc.port + 1;
}

export function etcdPaths(svc: ServiceInstance): { config: string; data: string } {
  return { config: path.join(svc.dir, 'etcd.conf.yml'), data: path.join(svc.dir, 'data') };
}

/** The member name of a node's etcd: the node's name (stable across restarts). */
const memberName = (svc: ServiceInstance): string => svc.node;

/** etcd's YAML config (`--config-file`): everything in one 0600 file, nothing in argv. Pure. */
export function renderEtcdConf(topo: Topology, svc: ServiceInstance): string {
  const members = servicesOf(topo, 'etcd');
  const peer = (s: ServiceInstance): string => `http://${s.address}:${etcdPeerPort(s)}`;
  const lines = [
    `# Written by hastack for ${svc.id} before every start; etcd never rewrites it.`,
    `name: ${memberName(svc)}`,
    `data-dir: ${JSON.stringify(etcdPaths(svc).data)}`,
    `listen-client-urls: http://${svc.address}:${svc.port}`,
    `advertise-client-urls: http://${svc.address}:${svc.port}`,
    `listen-peer-urls: ${peer(svc)}`,
    `initial-advertise-peer-urls: ${peer(svc)}`,
    `initial-cluster: ${members.map((s) => `${memberName(s)}=${peer(s)}`).join(',')}`,
    // Ignored once the data directory exists (a restart rejoins with what it holds).
    'initial-cluster-state: new',
    `initial-cluster-token: ${JSON.stringify(`hastack-${topo.cluster}`)}`,
    // 100 ms heartbeats, 1 s election: etcd's defaults for a LAN. They also set the smallest lease
    // TTL etcd grants (1.5 election timeouts, rounded up: 2 s), which is the primary's lease.
    'heartbeat-interval: 100',
    'election-timeout: 1000',
    // Bounded resources: the quorum holds a handful of small keys. 64 MiB of backend (default 2 GiB),
    // 64 KiB per request, 16 operations per transaction, history compacted to the last 1000
    // revisions (leases renewed twice a second add none; each election adds a few).
    'quota-backend-bytes: 67108864',
    'max-request-bytes: 65536',
    'max-txn-ops: 16',
    'auto-compaction-mode: revision',
    'auto-compaction-retention: "1000"',
    'snapshot-count: 10000',
    'max-snapshots: 2',
    'max-wals: 2',
    // The v2 API has no auth of ours; only v3 (with auth) is served, also through the JSON
    // gateway our client uses. A config file leaves every key it omits at Go's zero value (not
    // etcd's default): the gateway is off unless named here.
    'enable-v2: false',
    'enable-grpc-gateway: true',
    // A member that was cut off does not depose the leader when it comes back (Raft pre-vote).
    'pre-vote: true',
    // Auth tokens: "simple" ones, bounded in life; the clients authenticate again when refused.
    'auth-token: simple',
    'logger: zap',
    'log-outputs: [stderr]',
    // A member change that would leave no quorum is refused.
    'strict-reconfig-check: true',
  ];
  return lines.join('\n') + '\n';
}

export function etcdClientFor(svc: ServiceInstance, rootPassword: string | undefined, timeoutMs?: number): EtcdClient {
  return new EtcdClient({ host: svc.address, port: svc.port }, rootPassword === undefined ? undefined : { user: 'root', password: rootPassword }, timeoutMs);
}

function rootPassword(ctx: ServiceContext): string {
  const p = ctx.secrets.etcdRootPassword;
  if (p === undefined) throw new HastackError(ErrorCode.CONFIG_INVALID, `secrets.json of cluster ${ctx.topo.cluster} has no etcdRootPassword: run "hastack up" once (it adds it)`);
  return p;
}

export const etcdDriver: ServiceDriver = {
  async prepare(ctx) {
    fs.mkdirSync(ctx.svc.dir, { recursive: true, mode: 0o700 });
    fs.mkdirSync(etcdPaths(ctx.svc).data, { recursive: true, mode: 0o700 });
    writeFileAtomic(etcdPaths(ctx.svc).config, renderEtcdConf(ctx.topo, ctx.svc), 0o600);
  },

  command(ctx: ServiceContext): ProcessSpec {
    return {
      command: 'etcd',
      args: ['--config-file', etcdPaths(ctx.svc).config],
      // One OS thread for Go's scheduler: etcd needs little CPU and must not crowd a 2-core node.
      env: { GOMAXPROCS: '1' },
      cwd: ctx.svc.dir,
    };
  },

  async probe(ctx, timeoutMs): Promise<ProbeResult> {
    const h = await etcdClientFor(ctx.svc, undefined, timeoutMs).healthy();
    return { healthy: h.healthy, role: 'etcd', detail: h.detail };
  },

  /** Turns on authentication (root, password from secrets.json) once the members have a leader. */
  async afterHealthy(ctx) {
    const client = etcdClientFor(ctx.svc, undefined, 5_000);
    // The v3 gateway answers 404 for a few hundred ms after /health is already true (until the
    // members agree on the cluster version, measured ~0.5 s here): retried for at most 15 s.
    const until = Date.now() + 15_000;
    for (;;) {
      try {
        await client.enableAuth(rootPassword(ctx));
        return;
      } catch (e) {
        if (Date.now() > until) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  },
};
