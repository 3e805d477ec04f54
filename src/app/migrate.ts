import type { ServiceContext } from '../registry/index.js';
import { describeError, ErrorCode, HastackError } from '../shared/errors.js';
import { createLogger, type Logger } from '../shared/log.js';
import { createDbClient, type DbClient, type DbSession } from '../clients/db/index.js';
import { demoDataOn, type Topology } from '../config/index.js';
import type { AppDefinition, Migration } from './contract.js';
import { loadApp } from './load.js';
import { withClusterLock } from './cluster-lock.js';

export interface MigrationResult {
  /** Ids applied by this call, in order (empty when the database was up to date). */
  readonly applied: string[];
}

/** The app's migrations this cluster applies: all but the demo-only ones where demo data is off. */
export function migrationsFor(topo: Topology, app: AppDefinition): readonly Migration[] {
  const demo = demoDataOn(topo.config);
  return app.migrations.filter((m) => demo || m.demoOnly !== true);
}

/** The cluster-wide lock (src/app/cluster-lock.ts) every migrator takes: module migrations and `app.migrate` alike. */
export const MIGRATION_LOCK = 'migrations';
/** How long to wait for another migrator (ms): a fresh ERP migrates in well under a second. */
const LOCK_WAIT_MS = 30_000;

/**
 * Applies the app's missing migrations, exactly once per cluster even when several processes
 * race: each takes the cluster-wide lock `migrations` (a lease row on the writer, correct on
 * Galera too, where GET_LOCK, used before, is per node), (re)reads what is applied on one
 * connection to the writer, applies what is missing in order, records each in
 * `hastack_migrations`, and releases. A migrator that dies frees the lock when its lease lapses;
 * the next starts over from what is recorded.
 */
export async function runMigrations(ctx: ServiceContext, opts: { readonly app?: AppDefinition; readonly db?: DbClient; readonly log?: Logger } = {}): Promise<MigrationResult> {
  const log = opts.log ?? createLogger('migrate', { node: ctx.svc.node });
  const app = opts.app ?? (await loadApp(ctx.topo));
  const db = opts.db ?? createDbClient(ctx.topo, ctx.secrets, log);
  try {
    return await applyMigrations(db, migrationsFor(ctx.topo, app), log);
  } finally {
    if (!opts.db) await db.close();
  }
}

export async function applyMigrations(db: DbClient, migrations: readonly Migration[], log: Logger): Promise<MigrationResult> {
  return withClusterLock(db, MIGRATION_LOCK, async () => ({ applied: await db.withPrimaryConnection((s) => applyLocked(s, migrations, log)) }), { log, waitMs: LOCK_WAIT_MS });
}

async function applyLocked(s: DbSession, migrations: readonly Migration[], log: Logger): Promise<string[]> {
  await s.execute(
    'CREATE TABLE IF NOT EXISTS hastack_migrations (id VARCHAR(150) NOT NULL PRIMARY KEY, applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)) ENGINE=InnoDB',
  );
  const rows = await s.query<{ id: string }>('SELECT id FROM hastack_migrations');
  const done = new Set(rows.map((r) => r.id));
  const known = new Set(migrations.map((m) => m.id));
  const unknown = [...done].filter((id) => !known.has(id));
  if (unknown.length > 0) log.warn({ unknown }, 'the database has migrations this app does not list (an older build is running?)');
  const applied: string[] = [];
  for (const m of migrations) {
    if (done.has(m.id)) continue;
    // DML commits together with its bookkeeping row; DDL commits by itself (MariaDB), so DDL
    // must be re-runnable (see Migration).
    await s.execute('START TRANSACTION');
    try {
      for (const [i, sql] of m.sql.entries()) {
        try {
          // 120 s: DDL on a large table can take a while, and migrations run off the request path.
          await s.execute(sql, [], { timeoutMs: 120_000 });
        } catch (e) {
          throw new HastackError(ErrorCode.SETUP_FAILED, `migration ${m.id}, statement ${i + 1}, failed: ${describeError(e)}; fix the migration and restart`, {
            cause: e,
            details: { migration: m.id, statement: i + 1 },
          });
        }
      }
      await s.execute('INSERT INTO hastack_migrations (id) VALUES (?)', [m.id]);
      await s.execute('COMMIT');
    } catch (e) {
      await s.execute('ROLLBACK').catch(() => undefined);
      throw e;
    }
    applied.push(m.id);
    log.info({ migration: m.id }, 'migration applied');
  }
  return applied;
}

export interface MigrationRunner {
  /** Resolves when the migrations are applied, or when `budgetMs` passed (they keep retrying). */
  readonly settled: Promise<void>;
  readonly done: () => boolean;
  stop(): void;
}

/**
 * Applies migrations at process start without letting a database outage stop the process:
 * tries at once, retries (1 s doubling to 5 s) and resolves `settled` after success or after
 * `budgetMs`; past the budget it keeps retrying in the background until it succeeds or is
 * stopped. `report` receives every outcome (for /readyz).
 */
export function startMigrationRunner(
  db: DbClient,
  migrations: readonly Migration[],
  log: Logger,
  budgetMs: number,
  report: (ok: boolean, detail: string) => void,
): MigrationRunner {
  let stopped = false;
  let ok = false;
  let timer: NodeJS.Timeout | undefined;
  let settle: () => void = () => undefined;
  const settled = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const budgetTimer = setTimeout(() => settle(), budgetMs);
  budgetTimer.unref();
  const attempt = async (n: number): Promise<void> => {
    if (stopped) return;
    try {
      const r = await applyMigrations(db, migrations, log);
      ok = true;
      report(true, r.applied.length === 0 ? 'up to date' : `applied ${r.applied.join(', ')}`);
      clearTimeout(budgetTimer);
      settle();
    } catch (e) {
      report(false, describeError(e));
      log.error({ err: describeError(e), attempt: n + 1 }, 'migrations failed; retrying');
      if (stopped) return;
      // 1 s doubling to 5 s: quick while a failover completes, cheap during a long outage.
      timer = setTimeout(() => void attempt(n + 1), Math.min(5_000, 1_000 * 2 ** n));
      timer.unref();
    }
  };
  void attempt(0);
  return {
    settled,
    done: () => ok,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      clearTimeout(budgetTimer);
      settle();
    },
  };
}
