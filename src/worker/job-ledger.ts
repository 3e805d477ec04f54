import { createHash } from 'node:crypto';
import type { Db } from '../clients/db/index.js';

/*
 * The jobs done, recorded in the app's database: a job that a Redis failover brings back after
 * it finished is acknowledged without running again.
 *
 * Why: Redis replicates asynchronously. A job a worker finished on a master just before that
 * master died still waits on the replica Sentinel promotes; a job a worker took from a master
 * cut off with it (in the seconds before that master's write guard refuses writes) still waits on
 * the majority's new master. BullMQ hands either out again and it runs twice (issue 22's table:
 * `partition-redis-master`, 3 jobs run twice in 4 runs; none in 6 with the ledger). Handlers
 * are idempotent by contract, but a second run is still a second e-mail or a second call to a
 * payment API. The database is what
 * the cluster keeps consistent through failovers (semi-sync, Galera), so the record lives there,
 * read and written on the primary.
 *
 * Key: the job's name, id and creation time (BullMQ's `timestamp`), hashed to a fixed length. A
 * copy a failover resurrected has all three; a job added again later under the same id (a sweep
 * re-enqueuing an order) was created at another time, and runs.
 * Not covered: two copies running at the same moment, neither finished yet (the window is the
 * job's own run time); a worker killed between the handler's end and the record (the job then
 * runs again, as before: at least once).
 */

const TABLE = 'hastack_jobs_done';
/** A resurrected copy runs within seconds of the failover; a day is far past that. */
const KEEP_HOURS = 24;
/** Rows pruned at most per worker start (bounded work; the next start takes the rest). */
const PRUNE_LIMIT = 10_000;

export interface JobIdentity {
  readonly name: string;
  readonly id?: string | undefined;
  readonly timestamp: number;
}

export function jobKey(job: JobIdentity): string {
  return createHash('sha256')
    .update(`${job.name}\u0000${job.id ?? ''}\u0000${job.timestamp}`)
    .digest('hex');
}

export class JobLedger {
  private ready: Promise<void> | undefined;

  constructor(private readonly db: Db) {}

  /** The table made (and old rows pruned) once per process; a failure is tried again next time. */
  private prepare(): Promise<void> {
    this.ready ??= (async () => {
      await this.db.execute(
        `CREATE TABLE IF NOT EXISTS ${TABLE} (job_key CHAR(64) NOT NULL PRIMARY KEY, done_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB`,
        [],
        {
          idempotent: true,
        },
      );
      await this.db.execute(`DELETE FROM ${TABLE} WHERE done_at < NOW(3) - INTERVAL ${KEEP_HOURS} HOUR LIMIT ${PRUNE_LIMIT}`, [], { idempotent: true });
    })().catch((e: unknown) => {
      this.ready = undefined;
      throw e;
    });
    return this.ready;
  }

  /** Whether a job with this key finished already (on the primary: another worker's record counts). */
  async isDone(key: string): Promise<boolean> {
    await this.prepare();
    const rows = await this.db.query<{ n: number }>(`SELECT 1 AS n FROM ${TABLE} WHERE job_key = ?`, [key]);
    return rows.length > 0;
  }

  async recordDone(key: string): Promise<void> {
    await this.prepare();
    await this.db.execute(`INSERT IGNORE INTO ${TABLE} (job_key) VALUES (?)`, [key], { idempotent: true });
  }
}
