import { ErrorCode, HastackError } from '../shared/errors.js';

/*
 * Where a backup is taken from and where it goes: pure decisions over what the nodes answered.
 */

export interface DbCandidate {
  readonly node: string;
  readonly role: 'primary' | 'replica' | 'galera';
  /** IO and SQL threads running (a synced member for galera): it holds what the primary has, give or take the lag. */
  readonly replicating: boolean;
}

/**
 * A replicating replica (so that mariabackup's locks and I/O never block the primary), else the
 * primary. Galera: the first synced node of those given. A replica whose replication is broken may be hours behind: a backup of it would look
 * fine and miss data, so it is never chosen.
 */
export function chooseSource(answers: readonly DbCandidate[]): DbCandidate {
  const replica = answers.find((a) => a.role !== 'primary' && a.replicating);
  if (replica) return replica;
  const primaries = answers.filter((a) => a.role === 'primary');
  if (primaries.length === 1 && primaries[0]) return primaries[0];
  if (primaries.length > 1) {
    throw new HastackError(
      ErrorCode.SETUP_FAILED,
      `several writable primaries answer (${primaries.map((p) => p.node).join(', ')}); fence all but one before taking a backup, or the backup may miss writes`,
    );
  }
  throw new HastackError(
    ErrorCode.DB_UNAVAILABLE,
    answers.length === 0
      ? 'no MariaDB node answers; start the cluster ("hastack up") before taking a backup'
      : `no primary and no replicating replica among ${answers.map((a) => a.node).join(', ')}; repair replication (hastack status) before taking a backup`,
  );
}

/**
 * The node that receives the backup: `--to`, else `backup.target`, else the first database node
 * that is not the primary (in `simple`, the standby: the node the crash plan moves the service
 * to, and a copy that survives losing the primary server), else the source itself.
 */
export function chooseTarget(p: {
  readonly to?: string;
  readonly configured?: string;
  readonly nodes: readonly string[];
  readonly dbNodes: readonly string[];
  readonly primary?: string;
  readonly source: string;
}): string {
  const explicit = p.to ?? p.configured;
  if (explicit !== undefined) {
    if (!p.nodes.includes(explicit)) {
      throw new HastackError(ErrorCode.NOT_FOUND, `no node "${explicit}" in this cluster; nodes: ${p.nodes.join(', ')}`);
    }
    return explicit;
  }
  return p.dbNodes.find((n) => n !== p.primary) ?? p.source;
}
