import fs from 'node:fs';
import type { ServiceInstance, Topology } from '../config/index.js';
import { servicesOf } from '../config/index.js';
import { readJsonState } from '../shared/files.js';
import { writeFileAtomic } from './common.js';
import type { ServiceContext } from '../registry/index.js';
import { mariadbPaths, type DbRole } from './mariadb-config.js';

/** A node's recorded role (`<svc.dir>/hastack-db.json`): read strictly, written atomically. */

/** What `<svc.dir>/hastack-db.json` holds. */
export interface DbNodeState {
  readonly role: DbRole;
  /** True once `afterHealthy` completed on this node: no longer its very first boot. */
  readonly wired: boolean;
  /**
   * Set when the datadir was provisioned from a mariabackup of a live node: the backup's GTID, which
   * afterHealthy makes this replica's gtid_slave_pos before pointing it at the primary. Cleared once
   * that CHANGE MASTER is done, so a re-run never rewinds a replica that has applied more since.
   */
  readonly seedGtid?: string;
}

export const DB_STATE_FIX =
  'It says whether this node restarts writable, and hastack will not guess (a fenced old primary must not come back as a second primary). ' +
  'Find the primary ("hastack status"); write {"role":"replica","wired":true} into this file if this node is not it ({"role":"primary","wired":true} if it is), then start it again';

/**
 * The node's recorded state, strictly: undefined only when the file does not exist; a
 * StateCorruptError when it exists but does not parse or names no role. Starting a node reads
 * this one.
 */
export function readDbStateStrict(svc: ServiceInstance): DbNodeState | undefined {
  const v = readJsonState<Partial<DbNodeState>>(
    mariadbPaths(svc).stateFile,
    (x) => {
      const r = (x as Partial<DbNodeState> | null)?.role;
      return r === 'primary' || r === 'replica' ? undefined : `no valid role (${JSON.stringify(r)})`;
    },
    DB_STATE_FIX,
  );
  if (!v) return undefined;
  return { role: v.role as DbRole, wired: v.wired === true, ...(typeof v.seedGtid === 'string' ? { seedGtid: v.seedGtid } : {}) };
}

/** The recorded state for reports and orderings: undefined when missing or unreadable. Never decides a start. */
export function readDbState(svc: ServiceInstance): DbNodeState | undefined {
  try {
    return readDbStateStrict(svc);
  } catch {
    return undefined;
  }
}

export function writeDbState(svc: ServiceInstance, s: DbNodeState): void {
  fs.mkdirSync(svc.dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(mariadbPaths(svc).stateFile, JSON.stringify({ ...s, updatedAt: new Date().toISOString() }, null, 2) + '\n');
}

/**
 * Records the role this node must have at its next start (read_only, semi-sync). Works while the
 * server is down: to fence a dead old primary before promoting another node, record 'replica' on
 * it first, so that a restart does not bring back a second writable primary.
 */
export function recordDbRole(ctx: ServiceContext, role: DbRole): void {
  const prev = readDbState(ctx.svc);
  // An unreadable previous state must not stop a fence: a node with a datadir has been wired.
  const wired = prev?.wired ?? fs.existsSync(mariadbPaths(ctx.svc).dataDir);
  writeDbState(ctx.svc, { role, wired, ...(prev?.seedGtid !== undefined ? { seedGtid: prev.seedGtid } : {}) });
}

/**
 * Semi-sync on at boot only on a primary that has been wired before and has replicas in the
 * topology: its replicas reconnect within about a second (MASTER_CONNECT_RETRY=1), and until then
 * a commit waits for them rather than being acknowledged with no copy elsewhere. At the very first
 * boot (no replica yet) it stays off, and with no replica in the topology at all it would only stall.
 */
export function semiSyncAtBoot(topo: Topology, state: DbNodeState): boolean {
  return topo.config.database.semiSync && state.role === 'primary' && state.wired && servicesOf(topo, 'mariadb').length > 1;
}
