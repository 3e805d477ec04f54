/**
 * The engine drivers: Redis, Sentinel, memcached and MariaDB as real child processes. Each driver
 * renders its engine's config, names its command line, probes it, and wires it into the cluster
 * (ServiceDriver, the service contract in src/registry); the admin operations below are what the
 * control, failover and status code may call. Nothing else in src/engines is public.
 */
import { databaseDriver } from './database.js';
import { memcachedDriver } from './memcached.js';
import { etcdDriver } from './etcd.js';
import { redisDriver } from './redis.js';
import { sentinelDriver } from './sentinel.js';
import type { EngineKind, ServiceDriver } from '../registry/index.js';

export {
  redisDriver,
  redisRole,
  redisReplicaOf,
  redisPromote,
  parseRedisRole,
  describeRedisRole,
  renderRedisConf,
  redisConfFile,
  withReplicaOf,
  enforceWriteGuard,
} from './redis.js';
export type { RedisRole, RedisConfParams } from './redis.js';

export {
  sentinelDriver,
  sentinelMasterAddr,
  askSentinelsForMaster,
  sentinelAnswers,
  sentinelQuorum,
  pickMaster,
  sentinelConfFile,
  waitSentinelsReady,
  renderSentinelConf,
} from './sentinel.js';
export type { RedisAddress, SentinelView, SentinelConfParams } from './sentinel.js';

export { memcachedDriver, memcachedFlushAll, memcachedVersion } from './memcached.js';
export { etcdDriver, etcdClientFor, etcdPaths, renderEtcdConf } from './etcd.js';
export { EtcdClient, EtcdError } from './etcd-client.js';
export type { EtcdKv, EtcdEndpoint, EtcdAuth } from './etcd-client.js';
export { RedisAdminPool, withRedis } from './redis-client.js';
export type { RedisRun, RedisTarget } from './redis-client.js';

export {
  mariadbDriver,
  adminConnection,
  withAdmin,
  mariadbReach,
  closeConnection,
  readGtidPosition,
  readReadOnly,
  replicationStatus,
  semiSyncStatus,
  setReplicaOf,
  closeToApp,
  openToApp,
  recordDbRole,
  readDbState,
  readDbStateStrict,
  writeDbState,
  mariadbStartOrder,
  parseSlaveStatus,
  dbRoleOf,
  mariadbPaths,
  serverIdOf,
  renderMyCnf,
  remoteAdminOptions,
  adminHosts,
  adminAccountHosts,
  DB_USERS,
  statusVars,
} from './mariadb.js';
export type { DbRole, DbNodeState, DbReplicationStatus, GtidPosition, SemiSyncStatus, ThreadState, MariadbPaths, MyCnfParams } from './mariadb.js';

export { databaseDriver, firstDatabaseNode } from './database.js';
export {
  galeraDriver,
  galeraHealth,
  readGaleraHealth,
  planClusterRecovery,
  applyBootstrapChoice,
  applyNodeBootstrapChoice,
  readNodeFacts,
  galeraPaths,
  renderGaleraCnf,
  GALERA_PORTS,
  galeraProviderPath,
} from './galera.js';
export { GALERA_WSREP_DOMAIN } from './galera-binlog.js';
export type { BootstrapChoice, GaleraHealth, GaleraPaths, GaleraCnfParams } from './galera.js';
export { planRecovery, describeRecovery, isFreshCluster, parseGrastate, parseRecoveredPosition } from './galera-recover.js';
export type { NodeFacts, RecoveryPlan, GaleraPosition, Grastate } from './galera-recover.js';

export { ensureClusterTls, databaseTlsOn, nodeTlsFiles, readNodeTls, ensureEdgeCertificate } from './tls.js';
export { EDGE_SCHEMA, EDGE_TABLES } from './mariadb-edge.js';
export type { NodeTlsFiles } from './tls.js';

export { checkEngines } from './binaries.js';
export { aptInstall, installCommand } from './apt.js';
export type { AptInstallOptions } from './apt.js';
export type { EngineCheck } from './binaries.js';

/** The drivers of the kinds hastack runs as Debian programs (the registry's `engine` kinds). */
export const engineDrivers: Readonly<Record<EngineKind, ServiceDriver>> = {
  mariadb: databaseDriver,
  redis: redisDriver,
  sentinel: sentinelDriver,
  memcached: memcachedDriver,
  etcd: etcdDriver,
};
export {
  redisAcceptPassword,
  redisUsePassword,
  redisDropOldPassword,
  sentinelSetAuthPass,
  sentinelAcceptPassword,
  sentinelUsePassword,
  sentinelDropOldPassword,
  withRoot,
  isWritable,
  alterAccount,
  alterLocalRoot,
  setReplicationPassword,
} from './passwords.js';
