import { createDbClient } from '../clients/db/index.js';
import type { Secrets, Topology } from '../config/index.js';
import { createLogger, type Logger } from '../shared/log.js';
import type { FinalState } from './final-state.js';

/**
 * The records workload's final state, read straight from the primary database as the ERP's is
 * (final-read.ts), never through the app. The tables are the Python example's
 * (examples/python/migrate.py): `records` (one row per Idempotency-Key, UNIQUE) and
 * `record_jobs` (the outbox: one job per record, `status` pending|done, `runs` completions).
 * Mapped onto the ERP's shape so the same checkers count lost, doubled and unfinished work.
 */

function quietLog(): Logger {
  const log = createLogger('chaos-final-read');
  log.level = 'warn';
  return log;
}

export async function readRecordsFinalState(topo: Topology, secrets: Secrets, keyPrefix: string): Promise<FinalState> {
  const db = createDbClient(topo, secrets, quietLog());
  try {
    const rows = await db.query<{ id: number | string; idem_key: string; data: string; status: string | null; runs: number | string | null; via: string | null }>(
      'SELECT r.id, r.idem_key, r.data, j.status, j.runs, j.via FROM records r LEFT JOIN record_jobs j ON j.record_id = r.id WHERE r.idem_key LIKE ?',
      [`${keyPrefix}%`],
    );
    const jobsVia: Record<string, number> = {};
    for (const r of rows) if (r.status === 'done') jobsVia[r.via ?? 'unknown'] = (jobsVia[r.via ?? 'unknown'] ?? 0) + 1;
    return {
      // A record with no job row would be an app that broke its outbox: it shows as pending.
      orders: rows.map((r) => ({ id: Number(r.id), idempotencyKey: r.idem_key, customer: r.data, status: r.status ?? 'pending' })),
      stock: [],
      jobRuns: new Map(rows.map((r) => [Number(r.id), Number(r.runs ?? 0)])),
      jobsVia,
    };
  } finally {
    await db.close();
  }
}

/** This run's jobs still pending: the grace period waits for this to reach zero (bounded). */
export async function countRecordsPending(topo: Topology, secrets: Secrets, keyPrefix: string): Promise<number> {
  const db = createDbClient(topo, secrets, quietLog());
  try {
    const rows = await db.query<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM records r LEFT JOIN record_jobs j ON j.record_id = r.id WHERE r.idem_key LIKE ? AND (j.status IS NULL OR j.status = 'pending')",
      [`${keyPrefix}%`],
    );
    return Number(rows[0]?.n ?? 0);
  } finally {
    await db.close();
  }
}
