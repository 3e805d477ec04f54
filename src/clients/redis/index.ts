import type { Secrets, Topology } from '../../config/index.js';
import type { Logger } from '../../shared/log.js';
import { RedisHandle } from './handle.js';
import { redisOptions } from './options.js';

export { redisOptions } from './options.js';
export { RedisHandle } from './handle.js';
export { JobQueue, QUEUE_PREFIX, DEFAULT_JOB_OPTIONS } from './queue.js';
export type { EnqueueOptions, EnqueueResult } from './queue.js';
export { withDeadline } from './deadline.js';
export { logGate } from './log-gate.js';
export { RedisReplicaReader, createReplicaReader, parseReplicationInfo, replicaMayAnswer } from './replicas.js';
export type { ReplicaState } from './replicas.js';

/** A Sentinel-aware (or direct, without Sentinels) client to the cluster's Redis master. */
export function createRedisHandle(topo: Topology, secrets: Secrets, connectionName: string, log: Logger): RedisHandle {
  return new RedisHandle(redisOptions(topo, secrets, connectionName), log);
}
