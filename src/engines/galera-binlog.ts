/* The binlog settings of a Galera node when the binlog archive is on (backup.binlogArchive). Pure. */

/** The GTID domain of every write set (wsrep_gtid_domain_id): the same on every node, and the domain replication mode uses. */
export const GALERA_WSREP_DOMAIN = 0;
// One server_id on every node: a write set's GTID carries the cluster's (MariaDB takes the
// bootstrap node's), and @@gtid_current_pos, which mariabackup records as a backup's position,
// counts the binlog's GTIDs only when their server_id is the node's own (measured: a joiner with
// server_id 2 had gtid_binlog_pos 0-1-71 and an empty gtid_current_pos, so its backups had no GTID).
const GALERA_SERVER_ID = 1;
// A node's own, non-replicated transactions get a domain of their own (gtid_domain_id, never the
// write sets' one): 1000 + the node's position in the config.
const LOCAL_DOMAIN_BASE = 1000;

/**
 * Binlogs on a Galera node (backup.binlogArchive), so the archive can stream them from any one
 * node and move to another on its loss: with wsrep_gtid_mode and log_slave_updates, every node
 * writes every write set with the same GTID (MariaDB >= 10.5.1: the GTID travels with the write
 * set), so node B's binlog continues node A's by GTID. What MariaDB's "Using MariaDB GTIDs with
 * MariaDB Galera Cluster" asks for: wsrep_gtid_mode on every node, one wsrep_gtid_domain_id,
 * log_slave_updates, and a gtid_domain_id of each node's own that no other node and not the
 * write sets use (a write with wsrep_on=0 stays out of the cluster's domain). `position`: the
 * node's 1-based position in the config.
 */
export function galeraBinlogLines(position: number): string[] {
  return [
    '',
    '# Binlogs for the archive (backup.binlogArchive): every write set, one GTID on every node',
    `server_id=${GALERA_SERVER_ID}`,
    'log_bin=mysql-bin',
    'log_bin_index=mysql-bin.index',
    'log_slave_updates=1',
    'wsrep_gtid_mode=ON',
    `wsrep_gtid_domain_id=${GALERA_WSREP_DOMAIN}`,
    `gtid_domain_id=${LOCAL_DOMAIN_BASE + position}`,
    // The binlog is the commit's coordinator with log_bin on: synced at commit, as in replication mode.
    'sync_binlog=1',
    // As in replication mode: rotate at 64 MB, keep 3 days (the archive holds them from then on).
    'max_binlog_size=64M',
    'binlog_expire_logs_seconds=259200',
  ];
}
