// The supervising process's own code (the supervisor, the admin API, openCluster in
// open-cluster.ts) is not exported here: `up` and `_controller` import those files when they run,
// so the other commands, which import this index, do not load the tiers' servers and clients.
export { logFileOf } from './log-files.js';
export type { SupervisorOptions } from './supervisor.js';
export type { RunningCluster } from './open-cluster.js';
export { requestFault, requestServiceControl } from './admin-client.js';
export { SERVICE_ACTIONS, describeDrain, describeServicePlan, drainTarget, parseTarget, resolveTarget } from './service-control.js';
export type { ServiceAction, Target } from './service-control.js';
export type { FaultRequest } from './admin-api.js';
export { prepareCluster, prepareState, commitTopology, stopCluster, releaseSubstrate, ensureNotRunning, supervisorAlive, leftoverPids, killLeftovers } from './cluster.js';
export { clusterStatus, serviceRows } from './status.js';
export type { ServiceRunInfo } from './status.js';
export { SupervisedRuntime, localLogFiles, reachOf } from './supervised-runtime.js';
export { startDetached } from './detached.js';
export type { ClusterStatus, ServiceStatus } from './status.js';
export { recoverGalera } from './galera-recovery.js';
export { restoreIntoCluster } from './restore-cluster.js';
export { supervisedRestoreMachines, placeHere, cleanHere, buildHere, planHere, lastArchivedHere, flushMemcached, buildDir } from './restore-machines.js';
export type { RestoreMachines, Placement, BuildResult } from './restore-machines.js';
export { startLockReaper, reaperVictims, reapOnce, REAPER_INTERVAL_MS } from './lock-reaper.js';
export { startGaleraKeeper, planKeeper } from './galera-keeper.js';
export type { GaleraKeeper, GaleraLook, KeeperPlan } from './galera-keeper.js';
export type { LockReaper, LockHolder } from './lock-reaper.js';
export type { RecoverOptions, RecoverOutcome } from './galera-recovery.js';
export { saveReport, listReports, readReport } from './dashboard/index.js';
export type { DashboardStatus, DashboardService, LbSnapshot, QueueSnapshot, ReportSummary } from './dashboard/index.js';

// Used by other folders (kept by scripts/codemods/index-imports.mjs: explicit names, no "export *").
export { adminTokenFile, loadOrCreateAdminToken, readAdminToken } from './admin-token.js';
