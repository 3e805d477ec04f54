/**
 * The crash plan (issue 8): `runFailover` (fence, promote, repoint, Redis, services, DNS, verify),
 * `runSwitchover` (planned role change), the automatic mode's `FailoverController`, and the pure
 * decisions they share. Backup and restore live beside them (backup*.ts).
 */
export { runFailover, runHook, FAILOVER_STEPS } from './runbook.js';
export type { FailoverOptions, FailoverResult, NodeFencer } from './runbook.js';
export { runSwitchover, SWITCHOVER_STEPS } from './switchover.js';
export { FailoverController } from './auto.js';
export type { SwitchoverOptions, SwitchoverResult } from './switchover.js';
export { planFailover, currentPrimary, decide, autoSnapshot } from './decide.js';
export type { ClusterFacts, DbFacts, RedisFacts, FailoverPlan, AutoSnapshot, AutoState, AutoConfig, AutoDecision } from './decide.js';
export { gatherFacts, describeFacts } from './facts.js';
export { readJournal, journalFile } from './journal.js';
export type { Journal, StepName } from './journal.js';
export type { FailoverEnv, RedisAdmin, RedisLook, SentinelFailoverAnswer } from './context.js';
export { lookAtRedisDirect, sentinelFailoverDirect } from './redis-ops.js';
export { runBackup, planBackup, releaseBackupHold } from './backup.js';
export type { BackupOptions, BackupPlan, BackupResult } from './backup.js';
export { verifyBackup } from './restore.js';
export type { VerifyOptions, VerifyReport } from './restore.js';
