import type { RedisOptions } from 'ioredis';
import { servicesOf, type Secrets, type Topology } from '../../config/index.js';
import { redisErrorCode } from '../../shared/engine-errors.js';
import { backoffMs } from '../../shared/retry.js';
import { ErrorCode, HastackError } from '../../shared/errors.js';
import { quietSentinelClients } from './sentinel-detector.js';

/**
 * How long a TCP connect to a Redis server or a Sentinel may take. A connect on a LAN takes well
 * under a millisecond, and a frozen server's kernel still accepts; one that takes 500 ms goes to
 * a host that is down or cut off. ioredis uses the same bound for the Sentinels it asks for the
 * master, one after the other: at 2 s, clients on the majority side of a partition that asked a
 * cut-off Sentinel first reconnected to the new master 2.7 s after +switch-master, and every
 * session check queued behind that reconnect (measured, `partition-redis-master`).
 */
export const REDIS_CONNECT_TIMEOUT_MS = 500;

/**
 * How long ioredis waits, when it drops a connection (a failover seen on a Sentinel, a forced
 * reconnect), for the server to close its side before it destroys the socket. Only then does it
 * reconnect, and commands wait. A live server closes at once; a cut-off one never does, and at
 * ioredis's default of 2 s the clients of a partitioned master reached the new one 2.5 s after
 * +switch-master (measured, `partition-redis-master`).
 */
export const REDIS_DISCONNECT_TIMEOUT_MS = 100;

/**
 * ioredis options for the cluster's Redis master.
 *
 * With Sentinels in the topology: ask them for the master of `config.redis.masterName`, then
 * verify the server really is a master (`role: 'master'`: ioredis checks INFO's role and asks
 * again if not: discovery is advice). Without Sentinels: the first redis service, directly.
 *
 * Reconnection never gives up (every retry strategy returns a delay), so a client only reaches
 * status 'end' when we close it or when ioredis gets stuck (ENGINE-NOTES), which RedisHandle
 * repairs. Callers bound their own waits.
 */
export function redisOptions(topo: Topology, secrets: Secrets, connectionName: string): RedisOptions {
  const common: RedisOptions = {
    password: secrets.redisPassword,
    connectionName,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    disconnectTimeout: REDIS_DISCONNECT_TIMEOUT_MS,
    // Between reconnect attempts: 50 ms doubling to 500 ms with jitter. A master failover takes
    // ~1 s after down-after (ENGINE-NOTES), so attempts land soon after the new master is up,
    // and jitter keeps a dozen processes from reconnecting in lockstep.
    retryStrategy: (times: number) => backoffMs(times - 1, 50, 500),
    // A demoted master (failover while we stayed connected) answers writes with READONLY:
    // reconnect (2 = and resend the command) so Sentinel points us at the new master. An old
    // master resumed after a freeze, not yet demoted, answers NOREPLICAS (the write guard, see
    // engines/redis.ts): reconnect too (1 = without resending: a master whose replica merely lags
    // answers the same, and the caller's own retry budget decides).
    reconnectOnError: (err: Error) => {
      const code = redisErrorCode(err);
      return code === 'READONLY' ? 2 : code === 'NOREPLICAS' ? 1 : false;
    },
    // Commands wait across reconnects instead of failing after N attempts; every caller in
    // hastack bounds its wait itself (and BullMQ requires null for its blocking connection).
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
  };
  const sentinels = servicesOf(topo, 'sentinel');
  if (sentinels.length > 0) {
    quietSentinelClients();
    return {
      ...common,
      sentinels: sentinels.map((s) => ({ host: s.address, port: s.port })),
      name: topo.config.redis.masterName,
      role: 'master',
      sentinelPassword: secrets.sentinelPassword,
      // A frozen Sentinel must not stall discovery: move on to the next one after 500 ms.
      sentinelCommandTimeout: 500,
      // All Sentinels unreachable: try the list again after 100 ms doubling to 1 s.
      sentinelRetryStrategy: (times: number) => backoffMs(times - 1, 100, 1_000),
      // Subscribe to +switch-master on the Sentinels and reconnect at once on a failover: without
      // it a client of a frozen or cut-off master (whose TCP connection does not break) waits
      // until that master comes back and answers READONLY. Known ioredis 5.11 race, seen in
      // test/integration/redis-failover.side.test.ts (about 1 run in 8): when the master died and the
      // client is already reconnecting, the old detector's +switch-master aborts that attempt and
      // the client ends ("Connection is closed."). RedisHandle and the worker repair exactly that.
      failoverDetector: true,
    };
  }
  const first = servicesOf(topo, 'redis')[0];
  if (!first) {
    throw new HastackError(ErrorCode.CONFIG_INVALID, 'the topology has no redis service; add "redis" to a node');
  }
  return { ...common, host: first.address, port: first.port };
}
