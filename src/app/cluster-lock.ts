import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { DbClient } from '../clients/db/index.js';
import { classifyDbError } from '../clients/db/index.js';
import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import type { Logger } from '../shared/log.js';
import { sleep } from '../shared/retry.js';

/**
 * A cluster-wide lock for one-at-a-time jobs (migrations, `app.migrate`): a lease row in
 * `hastack_locks` on the writer, taken by a committed conditional UPDATE.
 *
 * Why not `GET_LOCK` (what migrations used before): it is per server. In replication mode
 * there is one writable primary, so it worked; on Galera every node is writable and two migrators
 * on two nodes both got "their" lock. Why not `SELECT ... FOR UPDATE` held in a transaction: on
 * Galera row locks are local to a node too, and a conflict only shows at commit. A committed
 * write is what both modes agree on: in replication it happens on the only primary; on Galera
 * the commit is certified cluster-wide, so of two UPDATEs racing on two nodes one commits and
 * the other fails certification (a deadlock error, retried, then it sees the holder). The lease
 * expires (LEASE_S) unless renewed, so a migrator that died (SIGKILL, a lost node) frees it by
 * itself; a live one renews every RENEW_MS.
 */

/** A dead holder frees the lock after this (s). 60 s: long against one renewal interval, short for an operator waiting. */
const LEASE_S = 60;
/** Renewal interval: a quarter of the lease, so three renewals may fail (a failover) before it lapses. */
const RENEW_MS = 15_000;
/** Between attempts while another holder has it: cheap, and a released lock is taken within this. */
const POLL_MS = 250;

const CREATE_SQL =
  'CREATE TABLE IF NOT EXISTS hastack_locks (name VARCHAR(64) NOT NULL PRIMARY KEY, holder VARCHAR(191) NULL, ' +
  'expires_at TIMESTAMP(3) NULL, acquired_at TIMESTAMP(3) NULL) ENGINE=InnoDB';

export interface ClusterLockOptions {
  readonly log: Logger;
  /** How long to wait for another holder (ms) before TIMEOUT. */
  readonly waitMs: number;
  /** Called when a renewal finds the lease taken over (it lapsed): the job may be running twice. */
  readonly onLost?: () => void;
}

/** Who holds it: host, pid and a random tag, so a restarted process with the same pid is another holder. */
function holderId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`.slice(0, 191);
}

async function tryAcquire(db: DbClient, name: string, holder: string): Promise<boolean> {
  // Re-entrant for the same holder: an UPDATE whose commit succeeded but whose answer was lost is
  // retried by the client, and must not then wait for its own lease.
  const r = await db.execute(
    'UPDATE hastack_locks SET holder = ?, expires_at = NOW(3) + INTERVAL ? SECOND, acquired_at = NOW(3) WHERE name = ? AND (holder IS NULL OR holder = ? OR expires_at < NOW(3))',
    [holder, LEASE_S, name, holder],
  );
  return r.affectedRows === 1;
}

/** Runs `fn` holding the cluster-wide lock `name`; releases it after, whatever `fn` did. */
export async function withClusterLock<T>(db: DbClient, name: string, fn: () => Promise<T>, opts: ClusterLockOptions): Promise<T> {
  const holder = holderId();
  await db.execute(CREATE_SQL);
  await db.execute('INSERT IGNORE INTO hastack_locks (name) VALUES (?)', [name]);
  const deadline = Date.now() + opts.waitMs;
  let waited = false;
  for (;;) {
    let got = false;
    try {
      got = await tryAcquire(db, name, holder);
    } catch (e) {
      // Galera: the other node's UPDATE won certification; ours is refused as a deadlock. Try again.
      const cause = e instanceof HastackError ? e.cause : undefined;
      if (classifyDbError(e) !== 'deadlock' && classifyDbError(cause) !== 'deadlock') throw e;
    }
    if (got) break;
    if (Date.now() > deadline) {
      const [row] = await db.query<{ holder: string | null; expires_at: string | null }>('SELECT holder, expires_at FROM hastack_locks WHERE name = ?', [name]).catch(() => []);
      throw new HastackError(
        ErrorCode.TIMEOUT,
        `the cluster-wide lock "${name}" was held by ${row?.holder ?? 'another process'} for ${Math.round(opts.waitMs / 1000)} s; retry, or look for a stuck job (a dead holder frees it within ${LEASE_S} s)`,
        { details: { lock: name, holder: row?.holder ?? null } },
      );
    }
    if (!waited) opts.log.info({ lock: name }, 'waiting for the cluster-wide lock');
    waited = true;
    await sleep(POLL_MS);
  }
  opts.log.info({ lock: name, holder }, 'cluster-wide lock taken');
  let renewing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    renewing = db.execute('UPDATE hastack_locks SET expires_at = NOW(3) + INTERVAL ? SECOND WHERE name = ? AND holder = ?', [LEASE_S, name, holder]).then(
      (r) => {
        if (r.affectedRows !== 1) {
          opts.log.error({ lock: name }, 'the cluster-wide lock lapsed and was taken over while held');
          opts.onLost?.();
        }
      },
      (e: unknown) => opts.log.warn({ lock: name, err: describeError(e) }, 'renewing the cluster-wide lock failed; retrying at the next interval'),
    );
  }, RENEW_MS);
  timer.unref();
  try {
    return await fn();
  } finally {
    clearInterval(timer);
    await renewing;
    await db.execute('UPDATE hastack_locks SET holder = NULL, expires_at = NULL WHERE name = ? AND holder = ?', [name, holder]).catch((e: unknown) => {
      // Not released: it lapses by itself within LEASE_S.
      opts.log.warn({ lock: name, err: describeError(e) }, `releasing the cluster-wide lock failed; it frees itself within ${LEASE_S} s`);
    });
  }
}
