import type { TableStats } from './backup-manifest.js';

/**
 * Compares the tables a restored server holds with what the manifest recorded at backup time.
 * Pure. `exact`: the recorded numbers were read while the source could not change (a replica held
 * still), so row counts and checksums must match; otherwise only presence is required.
 * Returns the problems (empty = fine) and the checks that passed, one line each.
 */
export function compareTables(db: string, recorded: readonly TableStats[], restored: readonly TableStats[], exact: boolean): { problems: string[]; checks: string[] } {
  const problems: string[] = [];
  const checks: string[] = [];
  if (recorded.length === 0 && restored.length === 0) {
    problems.push(`database ${db} has no tables in this backup: it would restore nothing usable (was the backup taken before the migrations ran?)`);
    return { problems, checks };
  }
  const have = new Map(restored.map((t) => [t.name, t]));
  for (const r of recorded) {
    const t = have.get(r.name);
    if (!t) {
      problems.push(`table ${db}.${r.name} is missing after restore`);
      continue;
    }
    // rows < 0: the table exists but could not be read (reported by the caller).
    if (t.rows < 0) continue;
    if (!exact) {
      checks.push(`${db}.${r.name}: present, ${t.rows} rows (recorded while the source was changing: counts not compared)`);
      continue;
    }
    if (t.rows !== r.rows) problems.push(`table ${db}.${r.name} has ${t.rows} rows after restore, ${r.rows} at backup time`);
    else if (r.checksum !== null && t.checksum !== r.checksum)
      problems.push(`table ${db}.${r.name}: CHECKSUM TABLE is ${t.checksum ?? 'NULL'} after restore, ${r.checksum} at backup time`);
    else checks.push(`${db}.${r.name}: ${t.rows} rows, checksum ${t.checksum ?? '-'} as at backup time`);
  }
  return { problems, checks };
}
