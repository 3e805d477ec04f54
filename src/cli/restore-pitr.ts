import { readSecrets } from '../config/index.js';
import { LOCK_WAIT_MS, describeStop, parseGtidList, restoreToPoint, type StopAt } from '../failover/index.js';
import { ConfigError } from '../shared/errors.js';
import { abortOnSignal, restore as restoreVerify } from './backup.js';
import { restoreInto } from './restore-into.js';
import { loadRunningTopology, type ConfigOptions } from './config-source.js';
import { invokedAs, progressPrinter } from './output.js';

/**
 * `hastack restore`: `--verify [BACKUP]` checks a backup as before (backup.ts); `--to-time T`,
 * `--to-gtid G` or `--latest` (with `--verify`) is point-in-time recovery into a scratch server
 * (src/failover/restore-pitr.ts): it prints the backup it started from and the transaction it
 * restored to. Exit code 0 when the replay went through and every table reads, 1 otherwise.
 */
export interface RestoreOptions extends ConfigOptions {
  verify?: boolean;
  toTime?: string;
  toGtid?: string;
  latest?: boolean;
  keep?: boolean;
  json?: boolean;
  intoCluster?: boolean;
  confirm?: string;
  dryRun?: boolean;
}

/** `--to-time`: ISO 8601; a time without a zone is UTC (the binlog's timestamps and the event log are). */
export function parseStop(o: Pick<RestoreOptions, 'toTime' | 'toGtid' | 'latest'>): StopAt | undefined {
  const given = [o.toTime, o.toGtid, o.latest ? 'latest' : undefined].filter((x) => x !== undefined);
  if (given.length > 1) throw new ConfigError('--to-time', 'give one of --to-time, --to-gtid, --latest');
  if (o.toTime !== undefined) {
    const s = o.toTime.trim();
    const zoned = /(Z|[+-]\d\d:?\d\d)$/i.test(s) ? s : `${s.replace(' ', 'T')}Z`;
    const ms = Date.parse(zoned);
    if (Number.isNaN(ms)) throw new ConfigError('--to-time', `"${o.toTime}" is not a time; write it like 2026-12-04T14:05:00Z`);
    return { kind: 'time', unixS: Math.floor(ms / 1000) };
  }
  if (o.toGtid !== undefined) {
    let g: Array<{ domain: number; server: number; seq: number }>;
    try {
      g = [...parseGtidList(o.toGtid).values()];
    } catch {
      g = [];
    }
    const one = g[0];
    if (g.length !== 1 || one === undefined) throw new ConfigError('--to-gtid', `"${o.toGtid}" is not one GTID; write it like 0-1-1234 (see "hastack status" or the binlog)`);
    return { kind: 'gtid', gtid: one };
  }
  return o.latest ? { kind: 'latest' } : undefined;
}

export async function restore(ref: string | undefined, o: RestoreOptions): Promise<number> {
  const stop = parseStop(o);
  if (o.intoCluster) {
    if (o.verify || o.keep) throw new ConfigError('--into-cluster', 'goes into the cluster itself: leave out --verify and --keep (restore --verify first to look at the result)');
    if (ref !== undefined) throw new ConfigError('--into-cluster', 'the base backup is chosen (the newest before the target): give no backup id');
    return restoreInto(stop ?? { kind: 'latest' }, o);
  }
  if (stop === undefined) return restoreVerify(ref, o);
  if (!o.verify) {
    throw new ConfigError(
      '--verify',
      'add --verify to restore into a scratch server (and --keep to look at the result), or --into-cluster to put the cluster itself back at that point',
    );
  }
  if (ref !== undefined) throw new ConfigError('--to-time', 'with --to-time/--to-gtid/--latest the base backup is chosen (the newest before the target): give no backup id');
  const topo = loadRunningTopology(o);
  const { signal, dispose } = abortOnSignal();
  try {
    const r = await restoreToPoint({
      topo,
      secrets: readSecrets(topo.stateDir),
      stop,
      signal,
      keep: o.keep === true,
      lockWaitMs: LOCK_WAIT_MS,
      ...(o.json ? {} : { onEvent: progressPrinter() }),
    });
    if (o.json) {
      process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      return r.ok ? 0 : 1;
    }
    const lines = [
      '',
      `target:       ${describeStop(stop)}`,
      `base backup:  ${r.backup} (gtid ${r.baseGtid || '-'})`,
      `replayed:     ${r.applied} archived transactions`,
      `restored to:  ${r.restoredTo ? `${r.restoredTo.gtid} committed ${r.restoredTo.time}` : `the backup itself (${r.baseGtid || '-'})`}`,
      `archive ends: ${r.newestArchived ? `${r.newestArchived.gtid} committed ${r.newestArchived.time}` : '-'}`,
      ...r.tables.map((t) => `  ${t.name}: ${t.rows} rows`),
      ...r.notes.map((n) => `  NOTE  ${n}`),
      ...r.problems.map((p) => `  BROKEN  ${p}`),
    ];
    if (r.scratch)
      lines.push(
        `scratch server left running: pid ${r.scratch.pid}, socket ${r.scratch.socket}, ${r.scratch.address}:${r.scratch.port} (root, the cluster's root password); stop it: kill ${r.scratch.pid} && rm -rf ${r.scratch.dir}`,
      );
    lines.push(r.ok ? `restored in ${(r.durationMs / 1000).toFixed(1)} s` : `point-in-time restore FAILED; see above, and "${invokedAs()} backup list"`);
    process.stdout.write(lines.join('\n') + '\n');
    return r.ok ? 0 : 1;
  } finally {
    dispose();
  }
}
