import { servicesOf, substrateTraits, type ServiceInstance } from '../config/index.js';
import { readDbState } from '../engines/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { portOpen } from '../shared/net.js';
import { nodeAt, type FailoverEnv, type RedisLook } from './context.js';
import { lookAtRedis } from './redis-ops.js';
import { REACH_TIMEOUT_MS, readDb, readSemiSync, withDb } from './db-ops.js';
import type { ClusterFacts, DbFacts, RedisFacts } from './decide.js';

/**
 * One bounded look at every MariaDB, Redis and Sentinel of the cluster, all in parallel
 * (preflight). Given `dbs` (the automatic mode's snapshot of this very cycle, ms old), the
 * databases are not probed again and Redis is not looked at: the plan needs only the databases,
 * and each probe of a cut-off node costs its full timeout (1–1.5 s) before the fence.
 */
export async function gatherFacts(env: FailoverEnv, dbs?: DbFacts[]): Promise<ClusterFacts> {
  if (dbs) return { takenAt: new Date().toISOString(), dbs, redis: [], redisNotLooked: true };
  const [d, look] = await Promise.all([gatherDbFacts(env), lookAtRedis(env)]);
  return gatherRest(env, d, look);
}

/** Every MariaDB node, in parallel, each bounded by REACH_TIMEOUT_MS (the preflight's facts). */
async function gatherDbFacts(env: FailoverEnv): Promise<DbFacts[]> {
  return Promise.all(servicesOf(env.topo, 'mariadb').map((svc) => probeDbFacts(env, svc)));
}

/**
 * The automatic mode's snapshot, taken four times a second: every node's facts as they stand
 * `answerWithinMs` after the cycle began. A node that has not answered by then counts as
 * unreachable this cycle while its probe runs on (bounded by REACH_TIMEOUT_MS; one at a time per
 * node, the next cycles wait on the same one). Waiting for it instead made every cycle as long as
 * the timeout: with the primary cut off by a partition the cycles took 1.76 s each, and the
 * failover started 1.6 s after the primary's lease was gone. A slow answer never decides a
 * failover alone: the replicas must have lost the primary too, or its lease be gone.
 */
export class DbFactsWatch {
  private readonly pending = new Map<string, Promise<DbFacts>>();

  constructor(
    private readonly env: FailoverEnv,
    private readonly answerWithinMs: number,
  ) {}

  async snapshot(): Promise<DbFacts[]> {
    return Promise.all(
      servicesOf(this.env.topo, 'mariadb').map((svc) => {
        let p = this.pending.get(svc.id);
        if (p === undefined) {
          p = probeDbFacts(this.env, svc).finally(() => this.pending.delete(svc.id));
          this.pending.set(svc.id, p);
        }
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<DbFacts>((resolve) => {
          timer = setTimeout(() => resolve(unreachable(svc, `no answer within ${this.answerWithinMs} ms (still asking)`)), this.answerWithinMs);
        });
        return Promise.race([p, late]).finally(() => clearTimeout(timer));
      }),
    );
  }
}

function unreachable(svc: ServiceInstance, error: string): DbFacts {
  const recorded = readDbState(svc)?.role;
  return {
    node: svc.node,
    reachable: false,
    error,
    readOnly: true,
    replicating: false,
    ioThread: 'stopped',
    sqlThread: 'stopped',
    sqlErrno: 0,
    gtidApplied: '',
    gtidReceived: '',
    gtidBinlog: '',
    ...(recorded ? { recordedRole: recorded } : {}),
  };
}

/** One node's facts, bounded by REACH_TIMEOUT_MS; never throws (unreachable, with why). */
async function probeDbFacts(env: FailoverEnv, svc: ServiceInstance): Promise<DbFacts> {
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
      ioErrno: r.slave.lastIoErrno,
      sqlThread: r.slave.sqlThread,
      sqlErrno: r.slave.lastSqlErrno,
      gtidApplied: r.applied,
      gtidReceived: r.slave.configured && r.slave.gtidIoPos !== '' ? r.slave.gtidIoPos : r.applied,
      gtidBinlog: r.binlog,
      semiSync: r.semiSync,
      ...(r.slave.configured && r.slave.sqlDelayS > 0 ? { delayS: r.slave.sqlDelayS } : {}),
      ...rec,
    };
  } catch (e) {
    return unreachable(svc, describeError(e));
  }
}

// The look goes through the agents on hosts (env.redisAdmin): Redis and Sentinel answer only cluster nodes.
function gatherRest(env: FailoverEnv, dbs: DbFacts[], look: RedisLook): ClusterFacts {
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
  if (f.redisNotLooked) lines.push('redis: not looked at before the fence (the redis step looks after the promotion)');
  else lines.push(`sentinels name: ${f.sentinelMaster ?? 'no agreed master (none reachable, or they disagree)'}`);
  return lines;
}
