import { DB_APP_USER, appDbServices, type Secrets, type Topology } from '../../config/index.js';
import type { Logger } from '../../shared/log.js';
import { DbClient } from './client.js';
import type { DbClientOptions } from './options.js';

export { DbClient } from './client.js';
export type { DbSession, DbPing } from './types.js';
export type { DbClientOptions, DbNode, DbRouterStats } from './options.js';
export { createDbRetryPolicy } from './retry-policy.js';
export type { DbFailure, DbFailureKind, DbPath, DbPhase, DbRetryDecision, DbRetryLimits, DbRetryPolicy } from './retry-policy.js';
export { planRoutes, pickReader } from './routing.js';
export type { DbMode, NodeState, RoutePlan, RoutingPolicy } from './routing.js';
export { CausalToken } from './causal.js';
// The per-node pools and their statement runner (the eviction of a node's running writes is tested on them).
export { NodePools, runSql } from './pools.js';
export { choosePrimary } from './discovery.js';
export type { NodeProbe, PrimaryChoice } from './discovery.js';
export { classifyDbError, isDuplicateKeyError, isReadOnlySql } from './errors.js';
export type { DbErrorKind } from './errors.js';
export type { Db, DbReader, DbTx, QueryOptions, ReadOptions, Row, SessionDb, SqlValue, TransactionOptions, WriteResult } from './types.js';

/** The MariaDB user the engine driver creates for applications (defined with the environment contract). */
export { DB_APP_USER } from '../../config/index.js';

/** A client over every mariadb service of the topology, as the app user, on the app database. */
export function createDbClient(topo: Topology, secrets: Secrets, log: Logger, opts: Omit<DbClientOptions, 'user' | 'password' | 'database' | 'log'> = {}): DbClient {
  const nodes = appDbServices(topo).map((s) => ({ id: s.node, address: s.address, port: s.port }));
  return new DbClient(nodes, {
    // The router must know the mode: every Galera node is writable, which in replication is a split brain.
    mode: topo.config.database.mode,
    ...opts,
    user: DB_APP_USER,
    password: secrets.dbAppPassword,
    database: topo.config.database.name,
    log,
  });
}
// The local db endpoints (src/endpoints) follow the writer with the router's own prober and plan.
export { NodeProber } from './prober.js';
export type { ProbeTarget, ProbeCredentials } from './prober.js';
export { parseGtidPos, gtidCovers } from './gtid.js';
export type { GtidPos } from './gtid.js';
