import type { AppContext, JobContext } from '../../src/app/index.js';

/**
 * The reorder report: every tick of its schedule, the items whose total stock is under their
 * reorder level, written as one report keyed by the tick. Idempotent per tick: the report row
 * and its lines are one transaction, and a second run of the same tick (a worker died after
 * commit, BullMQ re-ran it) finds the report and writes nothing.
 */
export interface ReorderLine {
  readonly sku: string;
  readonly stockOnHand: number;
  readonly reorderLevel: number;
}

/**
 * The report's key: the schedule's tick ("tick-<schedule>-<ms>" job ids, stable across re-runs,
 * give "<schedule>@<ISO time>"), or the job id itself for a job enqueued by hand.
 */
export function reportKeyOf(jobId: string): string {
  const m = /^tick-(.+)-(\d{10,16})$/.exec(jobId);
  if (!m?.[1] || !m[2]) return jobId.slice(0, 200);
  return `${m[1]}@${new Date(Number(m[2])).toISOString()}`;
}

/** Items under their reorder level (a level of 0 means "never reorder"). */
export function underReorderLevel(items: readonly ReorderLine[]): ReorderLine[] {
  return items.filter((i) => i.reorderLevel > 0 && i.stockOnHand < i.reorderLevel).sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
}

export async function writeReorderReport(ctx: JobContext): Promise<{ key: string; written: boolean; lines: number }> {
  const key = reportKeyOf(ctx.job.id);
  return ctx.db.transaction(
    async (tx) => {
      const [done] = await tx.query<{ line_count: number }>('SELECT line_count FROM reorder_reports WHERE tick = ? FOR UPDATE', [key]);
      if (done) return { key, written: false, lines: Number(done.line_count) };
      const rows = await tx.query<{ sku: string; stock_on_hand: number; reorder_level: number }>('SELECT sku, stock_on_hand, reorder_level FROM items WHERE reorder_level > 0');
      const lines = underReorderLevel(rows.map((r) => ({ sku: r.sku, stockOnHand: Number(r.stock_on_hand), reorderLevel: Number(r.reorder_level) })));
      await tx.execute('INSERT INTO reorder_reports (tick, created_at, line_count) VALUES (?, UTC_TIMESTAMP(3), ?)', [key, lines.length]);
      if (lines.length > 0) {
        await tx.execute(
          `INSERT INTO reorder_report_lines (tick, sku, stock_on_hand, reorder_level) VALUES ${lines.map(() => '(?, ?, ?, ?)').join(', ')}`,
          lines.flatMap((l) => [key, l.sku, l.stockOnHand, l.reorderLevel]),
        );
      }
      return { key, written: true, lines: lines.length };
    },
    // The report key makes a re-run after an unknown COMMIT find the report instead of doubling it.
    { idempotent: true },
  );
}

export interface ReorderReport {
  readonly key: string;
  readonly createdAt: string;
  readonly lines: ReorderLine[];
}

/** The latest report (GET /api/reports/reorder), or undefined before the first tick. */
export async function latestReorderReport(ctx: AppContext): Promise<ReorderReport | undefined> {
  const [r] = await ctx.db.query<{ tick: string; created_at: Date }>('SELECT tick, created_at FROM reorder_reports ORDER BY created_at DESC, tick DESC LIMIT 1');
  if (!r) return undefined;
  const lines = await ctx.db.query<{ sku: string; stock_on_hand: number; reorder_level: number }>(
    'SELECT sku, stock_on_hand, reorder_level FROM reorder_report_lines WHERE tick = ? ORDER BY sku',
    [r.tick],
  );
  return {
    key: r.tick,
    createdAt: r.created_at.toISOString(),
    lines: lines.map((l) => ({ sku: l.sku, stockOnHand: Number(l.stock_on_hand), reorderLevel: Number(l.reorder_level) })),
  };
}
