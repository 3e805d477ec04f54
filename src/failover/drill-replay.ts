import type { Topology } from '../config/index.js';
import type { DrillReplay } from './backup-drill.js';
import { buildTimeline, planReplay, readArchive } from './binlog-archive-store.js';
import { parseGtidList } from './binlog-parse.js';
import { onCurrentHistory, readRestores } from './restore-history.js';
import { replayPlan, when } from './restore-pitr.js';

/**
 * The restore drill's binlog replay (`backup.binlogArchive`): the archived transactions after the
 * drilled backup, replayed into the drill's scratch server up to a random second between the
 * first of them and the newest, as `restore --to-time` would. So a drill proves what a real
 * recovery needs, the archive as well as the backup, at a time nobody picked. The tables at that
 * second are not known beforehand: they are checked for readability (backup-drill.ts), and the
 * point reached is recorded. A gap in the archive fails the drill with the restore's message.
 */
export function drillReplay(topo: Topology, root: { readonly password: string }, random: () => number = Math.random): DrillReplay | undefined {
  // Without the archive a drill restores the backup's own point.
  if (!topo.config.backup.binlogArchive) return undefined;
  return async ({ scratch, manifest, key, signal }) => {
    // A backup of the history a restore into the cluster took back: the archive no longer continues it.
    if (!onCurrentHistory(manifest, readRestores(topo.stateDir))) return undefined;
    const timeline = buildTimeline(readArchive(topo, key));
    const base = parseGtidList(manifest.gtid || '');
    const after = timeline.transactions.filter((t) => t.seq > (base.get(t.domain)?.seq ?? 0));
    const first = after[0];
    const newest = after.at(-1);
    if (!first || !newest) return undefined;
    const unixS = first.ts + Math.floor(random() * (newest.ts - first.ts + 1));
    const plan = planReplay(timeline, base, { kind: 'time', unixS });
    await replayPlan(scratch, plan, { topo, key, rootPassword: root.password, ...(signal ? { signal } : {}) });
    const at = plan.last ? when(plan.last) : undefined;
    return {
      pointInTime: at?.time ?? new Date(unixS * 1000).toISOString(),
      note: `replayed ${plan.applied} archived transactions to ${at ? `${at.gtid} (${at.time})` : 'the backup itself'}, a random second of the archive after the backup`,
    };
  };
}
