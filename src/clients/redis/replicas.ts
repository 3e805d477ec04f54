import type { RedisOptions } from 'ioredis';
import { servicesOf, type Secrets, type Topology } from '../../config/index.js';
import type { Logger } from '../../shared/log.js';
import { backoffMs } from '../../shared/retry.js';
import { withDeadline } from './deadline.js';
import { RedisHandle } from './handle.js';
import { REDIS_CONNECT_TIMEOUT_MS, REDIS_DISCONNECT_TIMEOUT_MS } from './options.js';

/** What `INFO replication` says about a server, as far as a read from it is concerned. */
export interface ReplicaState {
  readonly role: string;
  /** master_link_status up. */
  readonly linkUp: boolean;
  /** master_link_down_since_seconds (undefined while the link is up or never came up: -1). */
  readonly linkDownS: number | undefined;
}

/** Parses `INFO replication`. Pure. */
export function parseReplicationInfo(info: string): ReplicaState {
  const f = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) f.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const down = Number(f.get('master_link_down_since_seconds'));
  return { role: f.get('role') ?? '', linkUp: f.get('master_link_status') === 'up', linkDownS: Number.isFinite(down) && down >= 0 ? down : undefined };
}

/**
 * May this server answer a read in place of the master? Only a replica, and only one that was
 * still following its master `maxLinkDownS` ago (the master's failover window): its data then
 * includes everything the master had confirmed to its replicas (WAIT) before the link went
 * down. A node that says it is a master is never asked here (an old master cut off by a
 * partition says so too, and may lack writes made on the new one). Pure.
 */
export function replicaMayAnswer(s: ReplicaState, maxLinkDownS: number): boolean {
  if (s.role !== 'slave') return false;
  if (s.linkUp) return true;
  return s.linkDownS !== undefined && s.linkDownS <= maxLinkDownS;
}

// Per lookup: a live replica answers INFO and GET at once; a frozen or cut-off one must not hold
// up a read that is already late (the master did not answer). A connection whose lookup ran out
// is dropped and made again (see `find`).
const LOOKUP_MS = 300;

/**
 * Reads from the cluster's Redis replicas while the master cannot answer (a Sentinel election).
 * One direct connection per Redis service (not through Sentinel: during an election Sentinel
 * names the dead master). Commands are never queued while a connection is down
 * (`enableOfflineQueue: false`): a dead node fails a lookup at once instead of stalling it.
 */
export class RedisReplicaReader {
  private readonly handles: RedisHandle[];

  constructor(
    targets: readonly { readonly address: string; readonly port: number }[],
    password: string,
    connectionName: string,
    private readonly maxLinkDownS: number,
    log: Logger,
  ) {
    this.handles = targets.map((t) => {
      const options: RedisOptions = {
        host: t.address,
        port: t.port,
        password,
        connectionName,
        connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
        disconnectTimeout: REDIS_DISCONNECT_TIMEOUT_MS,
        retryStrategy: (times: number) => backoffMs(times - 1, 50, 500),
        enableOfflineQueue: false,
        // A command in flight when the socket drops fails instead of being resent.
        maxRetriesPerRequest: 0,
        enableReadyCheck: true,
      };
      return new RedisHandle(options, log);
    });
  }

  /**
   * The value of `key` on the first replica that may answer and has it; undefined when none
   * does (no replica qualifies, none answered within 300 ms, or none has the key: a replica's
   * "no such key" is not trusted, the write may not have reached it yet). A replica that let a
   * lookup run out is reconnected, and skipped until it is ready again.
   */
  async find(key: string): Promise<string | undefined> {
    const one = async (h: RedisHandle): Promise<string | undefined> => {
      if (h.status !== 'ready') return undefined;
      const c = h.client;
      // INFO before GET on the same connection: the value read is at least as new as the state checked.
      const r = await withDeadline(c.multi().info('replication').get(key).exec(), LOOKUP_MS, () => {
        // A cut-off or frozen node keeps its TCP connection 'ready' while it answers nothing, and
        // every later lookup would wait the whole LOOKUP_MS for it again (measured: each session
        // check on a partitioned app server took 300 ms). Reconnecting makes it skipped at once
        // (status not 'ready') until the node answers a connect and the ready check again.
        if (c.status === 'ready') c.disconnect(true);
        return new Error('replica lookup timed out');
      });
      const info = r?.[0];
      const value = r?.[1];
      if (!info || info[0] !== null || !value || value[0] !== null) return undefined;
      if (!replicaMayAnswer(parseReplicationInfo(String(info[1])), this.maxLinkDownS)) return undefined;
      return typeof value[1] === 'string' ? value[1] : undefined;
    };
    const answers = this.handles.map((h) => one(h).catch(() => undefined));
    // The first replica that has it wins; the others are not waited for.
    return new Promise((resolve) => {
      let pending = answers.length;
      if (pending === 0) resolve(undefined);
      for (const a of answers) {
        void a.then((v) => {
          pending--;
          if (v !== undefined) resolve(v);
          else if (pending === 0) resolve(undefined);
        });
      }
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.handles.map((h) => h.close()));
  }
}

/**
 * A reader over every Redis service of the topology, or undefined without Sentinels (a single
 * Redis has no replica to ask).
 */
export function createReplicaReader(topo: Topology, secrets: Secrets, connectionName: string, maxLinkDownS: number, log: Logger): RedisReplicaReader | undefined {
  if (servicesOf(topo, 'sentinel').length === 0) return undefined;
  const redis = servicesOf(topo, 'redis').map((s) => ({ address: s.address, port: s.port }));
  if (redis.length < 2) return undefined;
  return new RedisReplicaReader(redis, secrets.redisPassword, connectionName, maxLinkDownS, log);
}
