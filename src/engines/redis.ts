import fs from 'node:fs';
import path from 'node:path';
import { servicesOf, type Secrets, type ServiceInstance, type Topology } from '../config/index.js';
import { isRedisAuthError, redisErrorCode } from '../shared/engine-errors.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { waitFor } from '../shared/retry.js';
import { hostPort, writeFileAtomic } from './common.js';
import { withRedis, type RedisRun } from './redis-client.js';
import { askSentinelsForMaster, confQuote, initialRedisMasterAddress, pickMaster, sentinelAnswers, sentinelQuorum, type RedisAddress } from './sentinel.js';
import type { ProbeResult, ServiceContext, ServiceDriver } from '../registry/index.js';

export interface RedisConfParams {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly dataDir: string;
  readonly maxmemoryMb: number;
  readonly password: string;
  /** Absent on the master. */
  readonly replicaOf?: RedisAddress;
}

/**
 * redis.conf as hastack writes it the first time. Afterwards Redis owns the file: Sentinel changes
 * `replicaof` in it through CONFIG REWRITE on failover, so it is never rendered again.
 */
export function renderRedisConf(p: RedisConfParams): string {
  const lines = [
    `# Written by hastack for ${p.id} on its first start. Redis rewrites this file (CONFIG REWRITE,`,
    '# for example when Sentinel moves the master); hastack never renders it again while it exists.',
    `bind ${p.address}`,
    `port ${p.port}`,
    // Outgoing connections (to the master) otherwise leave from 127.0.0.1 on loopback, the master
    // lists the replica as 127.0.0.1:6379, and Sentinel would look for it there.
    `bind-source-addr ${p.address}`,
    `replica-announce-ip ${p.address}`,
    // Bound to one node address and password-protected; protected mode would only refuse peers.
    'protected-mode no',
    'daemonize no',
    // stdout: the supervisor appends it to service.log.
    'logfile ""',
    `dir ${confQuote(p.dataDir)}`,
    // The append-only file is the persistence: at most ~1 s of writes lost on a crash of the whole
    // node; a write acknowledged by WAIT is on a replica as well.
    'appendonly yes',
    'appendfsync everysec',
    // No RDB snapshots besides the ones replication makes: AOF already covers restarts.
    'save ""',
    `maxmemory ${p.maxmemoryMb}mb`,
    // A queue must never lose jobs to eviction: refuse writes when full instead.
    'maxmemory-policy noeviction',
    `requirepass ${confQuote(p.password)}`,
    `masterauth ${confQuote(p.password)}`,
    // The default 5 s delay batches replicas into one transfer; with one or two small replicas it
    // only makes a (re)joining replica, and so WAIT-acknowledged writes, wait 5 s longer.
    'repl-diskless-sync-delay 0',
    // The write guard (see planWriteGuard): while guarded, a master refuses writes when no replica
    // acknowledged replication within this many seconds. Replicas ACK every second, so 2 s is the
    // smallest value that a healthy but busy replica never trips; a master frozen or cut off past
    // Sentinel's failover (down-after 1.5 s + ~1 s election) is refusing writes by the time a new
    // master takes them. `min-replicas-to-write` itself starts at 0 and is set at run time on
    // the master only (a replica promoted with it set and no replica left would refuse every
    // write: ENGINE-NOTES).
    `min-replicas-max-lag ${MIN_REPLICAS_MAX_LAG_S}`,
    'min-replicas-to-write 0',
  ];
  if (p.replicaOf) lines.push(`replicaof ${p.replicaOf.host} ${p.replicaOf.port}`);
  lines.push('');
  return lines.join('\n');
}

/** See renderRedisConf: how stale a replica's acknowledgement may be for a guarded master. */
export const MIN_REPLICAS_MAX_LAG_S = 2;

/** The `replicaof` a config file names, or null when it names none (a master). */
export function replicaOfInConf(text: string): RedisAddress | null {
  let found: RedisAddress | null = null;
  for (const line of text.split('\n')) {
    const m = /^\s*(?:replicaof|slaveof)\s+(\S+)\s+(\d+)\s*$/i.exec(line);
    if (m && m[1] !== undefined && m[2] !== undefined) found = { host: m[1], port: Number(m[2]) };
  }
  return found;
}

/** The same config text with its `replicaof`/`slaveof` lines replaced by one for `master` (or none). */
export function withReplicaOf(text: string, master: RedisAddress | null): string {
  const kept = text.split('\n').filter((l) => !/^\s*(?:replicaof|slaveof)\s/i.test(l));
  while (kept.length > 0 && kept[kept.length - 1] === '') kept.pop();
  if (master) kept.push(`replicaof ${master.host} ${master.port}`);
  kept.push('');
  return kept.join('\n');
}

/** What ROLE says, parsed. */
export type RedisRole =
  | { readonly role: 'master'; readonly offset: number; readonly replicas: ReadonlyArray<{ host: string; port: number; offset: number }> }
  | {
      readonly role: 'replica';
      readonly master: RedisAddress;
      /** `connect`, `connecting`, `sync` or `connected` (only the last means the link is up). */
      readonly linkState: string;
      readonly linkUp: boolean;
      readonly offset: number;
    };

/** Parses the reply of ROLE (Redis ≥ 2.8.12) on a data node. */
export function parseRedisRole(reply: unknown): RedisRole {
  if (!Array.isArray(reply) || reply.length === 0) {
    throw new HastackError(ErrorCode.INTERNAL, `unexpected ROLE reply: ${JSON.stringify(reply)}`);
  }
  const kind = String(reply[0]);
  if (kind === 'master') {
    const list = Array.isArray(reply[2]) ? (reply[2] as unknown[]) : [];
    const replicas = list.filter(Array.isArray).map((r) => {
      const a = r as unknown[];
      return { host: String(a[0]), port: Number(a[1]), offset: Number(a[2]) };
    });
    return { role: 'master', offset: Number(reply[1]), replicas };
  }
  if (kind === 'slave' || kind === 'replica') {
    const linkState = String(reply[3]);
    return {
      role: 'replica',
      master: { host: String(reply[1]), port: Number(reply[2]) },
      linkState,
      linkUp: linkState === 'connected',
      offset: Number(reply[4]),
    };
  }
  throw new HastackError(ErrorCode.INTERNAL, `ROLE says "${kind}": this is not a Redis data node (a sentinel on the redis port?)`);
}

/** One line for `hastack status`. */
export function describeRedisRole(r: RedisRole): string {
  if (r.role === 'master') {
    if (r.replicas.length === 0) return 'no replica connected';
    const list = r.replicas.map((x) => `${hostPort(x.host, x.port)} lag ${Math.max(0, r.offset - x.offset)} B`).join(', ');
    return `${r.replicas.length} replica(s): ${list}`;
  }
  const m = hostPort(r.master.host, r.master.port);
  return r.linkUp ? `replica of ${m}, link up` : `replica of ${m}, link down (${r.linkState})`;
}

export function redisConfFile(svc: ServiceInstance): string {
  return path.join(svc.dir, 'redis.conf');
}

// A Redis on loopback answers ROLE in well under a millisecond; 1 s is only reached by a frozen one.
const ADMIN_TIMEOUT_MS = 1000;

function target(ctx: ServiceContext): { host: string; port: number; password: string } {
  return { host: ctx.svc.address, port: ctx.svc.port, password: ctx.secrets.redisPassword };
}

/** This node's replication role (ROLE). Throws when it does not answer in time. */
export async function redisRole(ctx: ServiceContext, timeoutMs = ADMIN_TIMEOUT_MS, run: RedisRun = withRedis): Promise<RedisRole> {
  return run(target(ctx), timeoutMs, async (r) => parseRedisRole(await r.role()));
}

/**
 * Makes this node a replica of `host:port` and saves that in its redis.conf (CONFIG REWRITE), so a
 * restart keeps the new role. With Sentinel running, prefer letting Sentinel do this.
 */
export async function redisReplicaOf(ctx: ServiceContext, host: string, port: number, timeoutMs = ADMIN_TIMEOUT_MS): Promise<void> {
  await withRedis(target(ctx), timeoutMs, async (r) => {
    await r.call('REPLICAOF', host, String(port));
    await r.call('CONFIG', 'REWRITE');
  });
}

/** Makes this node a master (REPLICAOF NO ONE) and saves that in its redis.conf. For the crash plan. */
export async function redisPromote(ctx: ServiceContext, timeoutMs = ADMIN_TIMEOUT_MS): Promise<void> {
  await withRedis(target(ctx), timeoutMs, async (r) => {
    await r.call('REPLICAOF', 'NO', 'ONE');
    await r.call('CONFIG', 'REWRITE');
  });
}

function sameAddr(a: RedisAddress | null | undefined, b: RedisAddress | null | undefined): boolean {
  return !!a && !!b && a.host === b.host && a.port === b.port;
}

// A replica of a live master on loopback links up in well under a second (diskless sync, delay 0);
// 15 s leaves room for a few hundred MB of data on a busy 2-core machine.
const LINK_UP_TIMEOUT_MS = 15_000;

export const redisDriver: ServiceDriver = {
  async prepare(ctx) {
    const { topo, secrets, svc } = ctx;
    const dataDir = path.join(svc.dir, 'data');
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const file = redisConfFile(svc);
    // Where do the Sentinels say the master is (newest epoch, at least a quorum answering)?
    // Undefined when they are not running, as at a first `up`, where Redis starts before them.
    let consensus = await askSentinelsForMaster(topo, secrets);
    // A restart: the Sentinels usually run, but under load they may answer slower than one quick
    // ask (CI: an old master came back as a second master for want of a quorum of answers within
    // 500 ms). Asked again, up to 3 s; Sentinels that are not running refuse at once.
    for (let i = 0; i < 3 && !consensus && fs.existsSync(file); i++) consensus = await askSentinelsForMaster(topo, secrets, 1_000);
    const self: RedisAddress = { host: svc.address, port: svc.port };
    if (fs.existsSync(file)) {
      // Keep the file Redis and Sentinel maintain, with one exception: a node that was master
      // before a failover it did not see (it was down) still has no `replicaof` line and would come
      // back as a second master with old data until Sentinel demotes it. When the Sentinels name
      // the master, start with the `replicaof` they imply instead.
      if (!consensus) return;
      const text = fs.readFileSync(file, 'utf8');
      const want = sameAddr(consensus, self) ? null : consensus;
      const have = replicaOfInConf(text);
      if (!sameAddr(want, have) && !(want === null && have === null)) writeFileAtomic(file, withReplicaOf(text, want));
      return;
    }
    const master = consensus ?? initialRedisMasterAddress(topo);
    const text = renderRedisConf({
      id: svc.id,
      address: svc.address,
      port: svc.port,
      dataDir,
      maxmemoryMb: topo.config.redis.maxmemoryMb,
      password: secrets.redisPassword,
      ...(sameAddr(master, self) ? {} : { replicaOf: master }),
    });
    writeFileAtomic(file, text);
  },

  command(ctx) {
    return { command: 'redis-server', args: [redisConfFile(ctx.svc)], cwd: ctx.svc.dir };
  },

  /**
   * Healthy = the server answers an authenticated ROLE. A replica whose link to its master is down
   * is still healthy (detail "link down"): the probe drives restarts, and restarting a replica
   * because its master died cannot bring the master back, but would take away the very replica
   * Sentinel is about to promote. Whether a replica is in sync is for `afterHealthy` (at `up`) and
   * for `hastack status` (the detail) to tell.
   */
  async probe(ctx, timeoutMs): Promise<ProbeResult> {
    try {
      const role = await redisRole(ctx, timeoutMs);
      return { healthy: true, role: role.role, detail: describeRedisRole(role) };
    } catch (e) {
      if (redisErrorCode(e) === 'LOADING') return { healthy: false, role: 'redis', detail: 'loading its data from disk' };
      if (isRedisAuthError(e)) {
        return { healthy: false, role: 'redis', detail: 'authentication failed: redis.conf and secrets.json disagree on the password' };
      }
      return { healthy: false, role: 'redis', detail: describeError(e) };
    }
  },

  /**
   * At `up`, a replica whose master is alive should be in sync before the next service starts, so
   * that the Sentinels find a promotable replica and WAIT-acknowledged writes work from the start.
   * When the master does not answer (for example after a failover, the node named in this
   * replica's file starts later), this returns at once: Sentinel reconfigures the replica.
   */
  async afterHealthy(ctx) {
    const role = await redisRole(ctx);
    if (role.role === 'master' || role.linkUp) return;
    const masterAlive = await withRedis(
      { host: role.master.host, port: role.master.port, password: ctx.secrets.redisPassword },
      ADMIN_TIMEOUT_MS,
      async (r) => (await r.ping()) === 'PONG',
    ).catch(() => false);
    if (!masterAlive) return;
    const up = await waitFor(
      async () => {
        const r = await redisRole(ctx);
        return r.role === 'master' || r.linkUp ? true : undefined;
      },
      // 100 ms: a link comes up within a few hundred ms on loopback; polling costs one ROLE.
      { timeoutMs: LINK_UP_TIMEOUT_MS, intervalMs: 100 },
    );
    if (!up) {
      throw new HastackError(
        ErrorCode.SETUP_FAILED,
        `${ctx.svc.id} could not sync with its master ${hostPort(role.master.host, role.master.port)} within ${LINK_UP_TIMEOUT_MS} ms ` +
          `although the master answers; read ${path.join(ctx.svc.dir, 'service.log')} (a "masterauth" mismatch or a full disk are the usual causes)`,
      );
    }
  },
};

/** One Redis node as the write guard sees it (INFO replication + CONFIG GET). */
export interface GuardObservation {
  readonly addr: RedisAddress;
  readonly role: 'master' | 'replica';
  /** Replicas online with an acknowledgement at most MIN_REPLICAS_MAX_LAG_S old (masters only). */
  readonly goodReplicas: number;
  readonly minReplicasToWrite: number;
  /**
   * Seconds since the freshest acknowledgement of any replica still connected, whatever its state
   * (masters only); absent when no replica is connected. A replica cut off by a partition stays
   * connected (its packets are dropped, the socket is not closed) with a growing lag.
   */
  readonly freshestReplicaLagS?: number;
}

export interface GuardAction {
  readonly addr: RedisAddress;
  readonly minReplicasToWrite: 0 | 1;
  readonly why: string;
}

/**
 * The write guard, decided. `min-replicas-to-write 1` makes a master that lost its replica stop
 * taking writes: a master frozen or cut off past a failover (Jepsen 2013) accepts nothing that
 * the promoted replica would not have. But the setting must follow the roles:
 * - the master the Sentinels name gets it while it has a good replica (a replica at hand, so a
 *   cut-off master is fenced), and loses it when it has none: after a failover with no replica
 *   left (or when the only replica dies) writes go on, un-replicated, rather than every write
 *   failing with NOREPLICAS. Durable enqueues still refuse to acknowledge a job then (WAIT 1
 *   answers 0), so no acknowledged job depends on that master alone;
 * - a replica never has it (ENGINE-NOTES: promoted with it and no replica, it refuses all writes);
 * - a node that still calls itself master while the Sentinels name another (the old master,
 *   resumed, not yet demoted) is left alone: it is the one the guard must keep refusing writes.
 * - a master whose replica is still connected but silent keeps the guard for `liftAfterS`
 *   (longer than Sentinel takes to fail over): it may be the minority side of a partition;
 *   unless a majority of all the Sentinels reach it now (`namedUpForMajority`) and the replica has
 *   been silent at least `majoritySureAfterS`: then it is on the majority's side, no failover can
 *   replace it, and the silent replica is the one cut off. (Kept for 12 s there, the master of
 *   `simple` refused every session write while the standby's machine was cut off: logins answered
 *   503 and the failover's own check failed, turning automatic failover off.) The wait matters: a
 *   Sentinel flags a master it cannot reach `s_down` only after `down-after` of unanswered pings,
 *   and until then it still reports a cut-off master up. Lifted on that word at once, a cut-off
 *   master took writes for the rest of a partition (CI, partitions.test: lifted ~2 s in, 16 writes
 *   accepted after the failover).
 * Without a Sentinel answer (no quorum) only replicas are touched. Pure.
 */
export function planWriteGuard(
  named: RedisAddress | undefined,
  nodes: readonly GuardObservation[],
  liftAfterS = Number.POSITIVE_INFINITY,
  namedUpForMajority = false,
  majoritySureAfterS = 0,
): GuardAction[] {
  const actions: GuardAction[] = [];
  for (const n of nodes) {
    if (n.role === 'replica') {
      if (n.minReplicasToWrite !== 0) actions.push({ addr: n.addr, minReplicasToWrite: 0, why: 'a replica must not carry the write guard' });
      continue;
    }
    if (!sameAddr(n.addr, named)) continue;
    // A replica still connected but silent may be cut off from this master by a partition: the
    // Sentinels on its side are then electing a new master and stop naming this one within a
    // failover's time. Lifting the guard before then would let the cut-off master take writes
    // the new master never sees (measured on netns: lifted 3 s into a partition, failover at 4.4 s).
    const replicaMayBeCutOff = n.freshestReplicaLagS !== undefined && n.freshestReplicaLagS <= liftAfterS;
    // The Sentinels' "up" is only proof once they had time to flag a master they cannot reach.
    const majoritySure = namedUpForMajority && (n.freshestReplicaLagS ?? 0) >= majoritySureAfterS;
    if (n.goodReplicas === 0 && replicaMayBeCutOff && !majoritySure) continue;
    const want = n.goodReplicas >= 1 ? 1 : 0;
    if (n.minReplicasToWrite === want) continue;
    actions.push({
      addr: n.addr,
      minReplicasToWrite: want,
      why: want === 1 ? 'the master has a replica again: guard its writes' : 'the master has no replica in sync: lift the guard (enqueues stay non-durable)',
    });
  }
  return actions;
}

/** The smallest `lag` of any replica listed in INFO replication text, if one is. Pure. */
export function freshestReplicaLagInInfo(info: string): number | undefined {
  const lags = info
    .split(/\r?\n/)
    .filter((l) => /^slave\d+:/.test(l))
    .map((l) => Number(/(?:^|,)lag=(\d+)/.exec(l.slice(l.indexOf(':') + 1))?.[1]))
    .filter((n) => Number.isFinite(n));
  return lags.length > 0 ? Math.min(...lags) : undefined;
}

function freshestLag(info: string): { freshestReplicaLagS?: number } {
  const lag = freshestReplicaLagInInfo(info);
  return lag === undefined ? {} : { freshestReplicaLagS: lag };
}

/** Replicas `online` with `lag` ≤ maxLag in INFO replication text. Pure. */
export function goodReplicasInInfo(info: string, maxLagS: number): number {
  let n = 0;
  for (const line of info.split(/\r?\n/)) {
    if (!/^slave\d+:/.test(line)) continue;
    const fields = Object.fromEntries(
      line
        .slice(line.indexOf(':') + 1)
        .split(',')
        .map((kv) => kv.split('=') as [string, string]),
    );
    if (fields['state'] === 'online' && Number(fields['lag']) <= maxLagS) n += 1;
  }
  return n;
}

/** Observes one Redis node for the guard; undefined when it does not answer within `timeoutMs`. */
async function observeForGuard(host: string, port: number, password: string, timeoutMs: number, run: RedisRun): Promise<GuardObservation | undefined> {
  try {
    return await run({ host, port, password }, timeoutMs, async (r) => {
      const info = await r.info('replication');
      const role = /^role:master/m.test(info) ? 'master' : 'replica';
      const conf = (await r.call('CONFIG', 'GET', 'min-replicas-to-write')) as unknown[];
      return {
        addr: { host, port },
        role,
        goodReplicas: role === 'master' ? goodReplicasInInfo(info, MIN_REPLICAS_MAX_LAG_S) : 0,
        minReplicasToWrite: Number(conf[1] ?? 0),
        ...(role === 'master' ? freshestLag(info) : {}),
      } as const;
    });
  } catch {
    return undefined;
  }
}

/**
 * One round of the write guard over every Redis node of the topology: observe, plan, apply (and
 * CONFIG REWRITE, so a restart keeps the role's setting). Returns what it changed. Idempotent,
 * bounded by `timeoutMs` per node; several processes may run it at once (they agree). `run`: a
 * RedisAdminPool's for a guard that runs every second, so each round does not open new connections.
 */
export async function enforceWriteGuard(topo: Topology, secrets: Secrets, run: RedisRun = withRedis, timeoutMs = ADMIN_TIMEOUT_MS): Promise<GuardAction[]> {
  const answers = await sentinelAnswers(topo, secrets, undefined, run);
  const named = pickMaster(answers, sentinelQuorum(topo));
  // A majority of all the Sentinels, not of those that answered: a cut-off side never has one.
  const majority = Math.floor(servicesOf(topo, 'sentinel').length / 2) + 1;
  const namedUpForMajority = named !== undefined && answers.filter((a) => a.masterUp && sameAddr(a.addr, named)).length >= majority;
  const seen = await Promise.all(servicesOf(topo, 'redis').map((svc) => observeForGuard(svc.address, svc.port, secrets.redisPassword, timeoutMs, run)));
  // Sentinel's own bound on a failover: down-after to notice, failover-timeout to complete it.
  const liftAfterS = Math.ceil((topo.config.redis.downAfterMs + topo.config.redis.failoverTimeoutMs) / 1000);
  // Sentinels ping every second and flag a master s_down after down-after without an answer; INFO's
  // lag counts whole seconds. By down-after + 2 s of a silent replica, Sentinels that still report
  // the master up are answered by it.
  const majoritySureAfterS = Math.ceil(topo.config.redis.downAfterMs / 1000) + 2;
  const actions = planWriteGuard(
    named,
    seen.filter((o): o is GuardObservation => o !== undefined),
    liftAfterS,
    namedUpForMajority,
    majoritySureAfterS,
  );
  const done: GuardAction[] = [];
  for (const a of actions) {
    try {
      await run({ host: a.addr.host, port: a.addr.port, password: secrets.redisPassword }, timeoutMs, async (r) => {
        await r.call('CONFIG', 'SET', 'min-replicas-to-write', String(a.minReplicasToWrite));
        // Best effort: a Redis started without a config file (tests) cannot rewrite one, and the
        // next round re-applies the setting after a restart anyway.
        await r.call('CONFIG', 'REWRITE').catch(() => undefined);
      });
      done.push(a);
    } catch {
      // Not reachable right now: the next round tries again.
    }
  }
  return done;
}
