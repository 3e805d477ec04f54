import type { RedisOptions } from 'ioredis';
import { servicesOf, type Secrets, type Topology } from '../../config/index.js';
import { redisErrorCode } from '../../shared/engine-errors.js';
import { backoffMs } from '../../shared/retry.js';
import { ErrorCode, HastackError } from '../../shared/errors.js';

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
    // 2 s: a TCP connect on a LAN takes < 1 ms; anything slower is a dead or frozen host.
    connectTimeout: 2_000,
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
