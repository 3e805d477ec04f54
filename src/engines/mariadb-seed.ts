/*
 * Pure decisions for provisioning a new MariaDB replica from a mariabackup of a live node (the
 * "seed"), kept apart from mariadb.ts so they can be unit-tested without a server.
 */

/** What the writable primary's binary logs can still give a brand-new replica. */
export interface PrimaryBinlogFacts {
  /** The primary's oldest binlog starts with an empty Gtid_list: it holds every transaction since its install. */
  readonly historyComplete: boolean;
  /** Sum of SHOW BINARY LOGS File_size. */
  readonly binlogBytes: number;
}

/**
 * Above this a new replica is seeded from a backup even though the binlogs are complete: replaying
 * one max_binlog_size (64 MB, see renderMyCnf) of row events takes longer here than copying the
 * datadir at disk speed, and the primary would stream all of it.
 */
export const REPLAY_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Seed from a backup when replaying the primary's binlogs from the start cannot work (purged: the
 * replica would stop on error 1236) or would be slow. Otherwise, as at the very first `up`, a fresh
 * mariadb-install-db datadir replays the bootstrap-sized binlog in about a second. Pure.
 */
export function shouldSeedFromBackup(f: PrimaryBinlogFacts): boolean {
  return !f.historyComplete || f.binlogBytes > REPLAY_LIMIT_BYTES;
}

/** The Info column of a Gtid_list binlog event ("[]" or "[0-1-42,1-2-7]") lists no GTID. Pure. */
export function isEmptyGtidList(info: string): boolean {
  return (
    info
      .trim()
      .replace(/^\[|\]$/g, '')
      .trim() === ''
  );
}

/** One other mariadb node as it answered, for choosing the backup source. */
export interface SeedCandidate {
  readonly id: string;
  readonly role: 'primary' | 'replica';
  /** IO and SQL threads both running. */
  readonly replicating: boolean;
  /** Its datadir is readable here (mariabackup reads the files directly). */
  readonly localDatadir: boolean;
}

/**
 * The node to back up: a replicating replica, so the primary does not carry the copy's I/O and its
 * BACKUP STAGE locks; else the primary. A node whose datadir is not on this machine cannot be
 * copied by mariabackup. Undefined when no candidate fits. Pure.
 */
export function chooseSeedSource(cands: readonly SeedCandidate[]): SeedCandidate | undefined {
  const local = cands.filter((c) => c.localDatadir);
  return local.find((c) => c.role === 'replica' && c.replicating) ?? local.find((c) => c.role === 'primary');
}

/**
 * The GTID position of a backup from its `xtrabackup_binlog_info` / `mariadb_backup_binlog_info`
 * ("mysql-bin.000003\t385\t0-1-42", the third column; several domains are comma-separated).
 * Empty when the source had no binlog position. Pure.
 */
export function parseBackupGtid(text: string): string {
  const first = text.split('\n').find((l) => l.trim() !== '') ?? '';
  const cols = first.trim().split(/\s+/);
  return cols.slice(2).join('').trim();
}

/** The files mariabackup may record the binlog position in, newest name first (renamed in 11.x). */
export const BINLOG_INFO_FILES = ['mariadb_backup_binlog_info', 'xtrabackup_binlog_info'] as const;
