/**
 * The crash plan (issue 8): `runFailover` (fence, promote, repoint, Redis, services, DNS, verify),
 * `runSwitchover` (planned role change), the automatic mode's `FailoverController`, and the pure
 * decisions they share. Backup and restore live beside them (backup*.ts).
 */
export { runFailover, runHook, FAILOVER_STEPS } from './runbook.js';
export type { FailoverOptions, FailoverResult, NodeFencer } from './runbook.js';
export { runSwitchover, SWITCHOVER_STEPS } from './switchover.js';
export { FailoverController } from './auto.js';
export { AutoFailover } from './quorum-set.js';
export { SharedRecords } from './shared-records.js';
export { GuardThread } from './guard-thread.js';
export { ElectionThread, MAIN_STUCK_MS, type LeaderElection } from './election-thread.js';
export { moveEtcdLeaderOff } from './etcd-leader.js';
export { readAutoMode, readAutoModeSafe, writeAutoMode, describeAutoMode, planModeChange, autoModeFile } from './auto-mode.js';
export type { AutoMode, AutoModeState } from './auto-mode.js';
export { Election, KeptLease, LEASE_TTL_S, KEEPALIVE_MS, FENCE_AFTER_MS, TERM_MS, BEAT_MS, leaderKey, primaryLeaseKey, quorumClient, hasQuorum } from './quorum.js';
export { PrimaryGuard, guardDecision, PROMOTING } from './self-fence.js';
export { stopWrites } from './db-ops.js';
export type { SwitchoverOptions, SwitchoverResult } from './switchover.js';
export { planFailover, currentPrimary, decide, autoSnapshot } from './decide.js';
export type { ClusterFacts, DbFacts, RedisFacts, FailoverPlan, AutoSnapshot, AutoState, AutoConfig, AutoDecision } from './decide.js';
export { gatherFacts, describeFacts } from './facts.js';
export { describeFailoverPlan, describeSwitchoverPlan, failoverSteps, switchoverSteps } from './plan-view.js';
export type { PlanStep, RoleChangePlan } from './plan-view.js';
export { readJournal, journalFile } from './journal.js';
export type { Journal, StepName } from './journal.js';
export type { FailoverEnv, RedisAdmin, RedisLook, SentinelFailoverAnswer } from './context.js';
export { lookAtRedisDirect, sentinelFailoverDirect } from './redis-ops.js';
export { runBackup, planBackup, releaseBackupHold, describePlan, backupSteps, backupWouldRemove, LOCK_WAIT_MS, type BackupMachine } from './backup.js';
export type { RemoteTarget } from './backup-remote.js';
export { receiveAbort, receiveBegin, receiveFinish } from './backup-receive.js';
export type { BackupOptions, BackupPlan, BackupResult } from './backup.js';
export { verifyBackup } from './restore.js';
export { runDrill, readDrill, backupStatusLines, type DrillRecord, type DrillReplay, type DrillReplayResult } from './backup-drill.js';
export { encryptStream, decryptStream, encryptFile, decryptFile, readBackupKey, BackupKey, CRYPT_FORMAT, ENCRYPTED_SUFFIX } from './backup-crypt.js';
export type { VerifyOptions, VerifyReport } from './restore.js';

// Used by other folders (kept by scripts/codemods/index-imports.mjs: explicit names, no "export *").
export type { BackupScheduler } from './backup-scheduler.js';
export type { EngineSecret, RotateResult, RotationJournal, RotationPlan } from './rotate.js';
export { describeRotationPlan } from './rotate.js';
export { formatBytes } from './backup-manifest.js';
export { listBackups } from './backup-store.js';
export { listEveryBackup } from './restore-fetch.js';
export { backupIdentityFile, describeEndpoint, ensureBackupIdentity, sshConn } from './backup-ssh.js';
export { backupKeyComment, gateFileName, gateScript, PLAIN_WORD } from './backup-ssh-gate.js';
export { sshTargets, type BackupTarget } from './backup-targets.js';
export { nextCronFire, parseCron, parseSchedule } from './backup-schedule.js';
export { pick, readRotationJournal, ROTATABLE, rotationJournalFile, runRotationSteps, writeRotationJournal } from './rotate.js';
export { startBackupScheduler } from './backup-scheduler.js';
export { startBinlogArchiver, readArchiveStatus, describeArchiveStatus } from './binlog-archive.js';
export type { BinlogArchiver, ArchiveStatus } from './binlog-archive.js';
export { restoreToPoint, describeStop, planPointInTime, planPointInTimeAnywhere } from './restore-pitr.js';
export { drillReplay } from './drill-replay.js';
export { readRestores, recordRestore, type ClusterRestore } from './restore-history.js';
export { withDb } from './db-ops.js';
export { galeraState, galeraSynced } from './backup-db.js';
export type { PitrOptions, PitrReport } from './restore-pitr.js';
export type { StopAt } from './binlog-archive-store.js';
export { buildTimeline, readArchive } from './binlog-archive-store.js';
export { archiveKey } from './binlog-archive-seal.js';
export { parseGtidList, type Gtid } from './binlog-parse.js';
