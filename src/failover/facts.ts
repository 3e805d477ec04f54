import { servicesOf, substrateTraits } from '../config/index.js';
import { readDbState } from '../engines/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { portOpen } from '../shared/net.js';
import { nodeAt, type FailoverEnv } from './context.js';
import { lookAtRedis } from './redis-ops.js';
import { REACH_TIMEOUT_MS, readDb, readSemiSync, withDb } from './db-ops.js';
import type { ClusterFacts, DbFacts, RedisFacts } from './decide.js';

/** One bounded look at every MariaDB, Redis and Sentinel of the cluster, in parallel (preflight). */
export async function gatherFacts(env: FailoverEnv): Promise<ClusterFacts> {
  return gatherRest(env, await gatherDbFacts(env));
}

/** Every MariaDB node, in parallel, each bounded by REACH_TIMEOUT_MS (the automatic mode's snapshot). */
export async function gatherDbFacts(env: FailoverEnv): Promise<DbFacts[]> {
  return Promise.all(
    servicesOf(env.topo, 'mariadb').map(async (svc): Promise<DbFacts> => {
      const recorded = readDbState(svc)?.role;
      const rec = recorded ? { recordedRole: recorded } : {};
      // The admin actions go over the node's unix socket, which no network partition cuts. On the
      // netns substrate the controller must also judge reachability as the network shows it (as
      // it would from another machine): a primary cut off from the host is unreachable, even
      // though its socket still answers (that is how the fence can still stop it).
      const overNetwork = substrateTraits(env.topo.config).tcpReachability ? portOpen(svc.address, svc.port, REACH_TIMEOUT_MS) : Promise.resolve(true);
      try {
        const [r, open] = await Promise.all([withDb(env, svc, async (c) => ({ ...(await readDb(c)), semiSync: await readSemiSync(c) })), overNetwork]);
        if (!open)
          throw new HastackError(
            ErrorCode.UPSTREAM_UNAVAILABLE,
            `no answer over the network at ${svc.address}:${svc.port} within ${REACH_TIMEOUT_MS} ms (its socket answers: alive behind a partition)`,
          );
        const master = r.slave.configured ? nodeAt(env, 'mariadb', r.slave.masterHost, r.slave.masterPort) : undefined;
        return {
          node: svc.node,
          reachable: true,
          readOnly: r.readOnly,
          replicating: r.slave.configured,
          ...(master ? { masterNode: master } : {}),
          ioThread: r.slave.ioThread,
          sqlThread: r.slave.sqlThread,
          sqlErrno: r.slave.lastSqlErrno,
          gtidApplied: r.applied,
          gtidReceived: r.slave.configured && r.slave.gtidIoPos !== '' ? r.slave.gtidIoPos : r.applied,
          gtidBinlog: r.binlog,
          semiSync: r.semiSync,
          ...rec,
        };
      } catch (e) {
        return {
          node: svc.node,
          reachable: false,
          error: describeError(e),
          readOnly: true,
          replicating: false,
          ioThread: 'stopped',
          sqlThread: 'stopped',
          sqlErrno: 0,
          gtidApplied: '',
          gtidReceived: '',
          gtidBinlog: '',
          ...rec,
        };
      }
    }),
  );
}

async function gatherRest(env: FailoverEnv, dbs: DbFacts[]): Promise<ClusterFacts> {
  // Through the agents on hosts (env.redisAdmin): Redis and Sentinel answer only cluster nodes.
  const look = await lookAtRedis(env);
  const redis = servicesOf(env.topo, 'redis').map((svc): RedisFacts => {
    const r = look.roles.get(svc.id);
    if (!r) return { node: svc.node, reachable: false, linkUp: false, offset: 0 };
    if (r.role === 'master') return { node: svc.node, reachable: true, role: 'master', linkUp: true, offset: r.offset };
    const m = nodeAt(env, 'redis', r.master.host, r.master.port);
    return { node: svc.node, reachable: true, role: 'replica', ...(m ? { masterNode: m } : {}), linkUp: r.linkUp, offset: r.offset };
  });
  const named = servicesOf(env.topo, 'sentinel').map((s) => look.named.get(s.id) ?? undefined);
  const masters = new Set(named.filter((a) => a !== undefined).map((a) => nodeAt(env, 'redis', a.host, a.port) ?? `${a.host}:${a.port}`));
  return {
    takenAt: new Date().toISOString(),
    dbs,
    redis,
    ...(masters.size === 1 ? { sentinelMaster: [...masters][0] as string } : {}),
  };
}

/** The facts as lines, for --dry-run and the journal. */
export function describeFacts(f: ClusterFacts): string[] {
  const lines = f.dbs.map((d) => {
    if (!d.reachable) return `mariadb ${d.node}: UNREACHABLE (${d.error ?? 'no answer'}), recorded role ${d.recordedRole ?? '-'}`;
    const role = d.replicating
      ? `replica of ${d.masterNode ?? '?'} (io ${d.ioThread}, sql ${d.sqlThread})`
      : d.readOnly
        ? 'read-only, replicating from nobody'
        : 'writable primary';
    return `mariadb ${d.node}: ${role}, received ${d.gtidReceived || 'nothing'}, applied ${d.gtidApplied || 'nothing'}`;
  });
  for (const r of f.redis) {
    lines.push(
      `redis ${r.node}: ${!r.reachable ? 'UNREACHABLE' : r.role === 'master' ? `master (offset ${r.offset})` : `replica of ${r.masterNode ?? '?'}, link ${r.linkUp ? 'up' : 'down'}`}`,
    );
  }
  lines.push(`sentinels name: ${f.sentinelMaster ?? 'no agreed master (none reachable, or they disagree)'}`);
  return lines;
}
