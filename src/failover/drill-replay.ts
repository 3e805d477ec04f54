import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../config/index.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import type { DrillReplay } from './backup-drill.js';
import { sshTargets } from './backup-targets.js';
import { buildTimeline, planReplay, readArchive, type ReplayPlan } from './binlog-archive-store.js';
import { parseGtidList } from './binlog-parse.js';
import { onCurrentHistory, readRestores } from './restore-history.js';
import { fetchDir, fetchSshArchives } from './restore-fetch.js';
import { replayPlan, when } from './restore-pitr.js';

/**
 * The restore drill's binlog replay (`backup.binlogArchive`): the archived transactions after the
 * drilled backup, replayed into the drill's scratch server up to a random second between the
 * first of them and the newest, as `restore --to-time` would. So a drill proves what a real
 * recovery needs, the archive as well as the backup, at a time nobody picked. The tables at that
 * second are not known beforehand: they are checked for readability (backup-drill.ts), and the
 * point reached is recorded. A gap in the archive fails the drill with the restore's message.
 * When this machine holds no archive (or one with a gap), the SSH targets' copies are fetched
 * first, as a recovery after losing it would.
 */
export function drillReplay(topo: Topology, root: { readonly password: string }, random: () => number = Math.random): DrillReplay | undefined {
  // Without the archive a drill restores the backup's own point.
  if (!topo.config.backup.binlogArchive) return undefined;
  return async ({ scratch, manifest, key, signal }) => {
    // A backup of the history a restore into the cluster took back: the archive no longer continues it.
    if (!onCurrentHistory(manifest, readRestores(topo.stateDir))) return undefined;
    const base = parseGtidList(manifest.gtid || '');
    /** The archive (this machine's copy, plus `roots`) after the backup, to a random second; undefined: nothing after it; 'none': no archive. */
    const planFrom = (roots: readonly string[]): { plan: ReplayPlan; unixS: number } | undefined | 'none' => {
      const segments = readArchive(topo, key, roots);
      if (segments.length === 0) return 'none';
      const timeline = buildTimeline(segments);
      const after = timeline.transactions.filter((t) => t.seq > (base.get(t.domain)?.seq ?? 0));
      const first = after[0];
      const newest = after.at(-1);
      if (!first || !newest) return undefined;
      const unixS = first.ts + Math.floor(random() * (newest.ts - first.ts + 1));
      return { plan: planReplay(timeline, base, { kind: 'time', unixS }), unixS };
    };
    // The SSH targets' copies only when this machine's does not serve (none, or a gap), into a
    // 0700 scratch directory removed after the replay.
    let fetched: string | undefined;
    let from = '';
    try {
      let planned: ReturnType<typeof planFrom>;
      try {
        planned = planFrom([]);
      } catch (e) {
        // A gap: NOT_FOUND, as a restore says it.
        if (!(e instanceof HastackError && e.code === ErrorCode.NOT_FOUND) || sshTargets(topo).length === 0) throw e;
        planned = 'none';
      }
      if (planned === 'none' && sshTargets(topo).length > 0) {
        fetched = fetchDir(topo, 'drill-archive');
        const got = await fetchSshArchives(topo, fetched, path.join(topo.stateDir, 'backup.log'), signal);
        planned = planFrom(got.roots);
        from = ` (the archive fetched from the SSH targets${got.failed.length > 0 ? `; not reachable: ${got.failed.join('; ')}` : ''})`;
      }
      if (planned === undefined || planned === 'none') return undefined;
      const { plan, unixS } = planned;
      await replayPlan(scratch, plan, { topo, key, rootPassword: root.password, ...(signal ? { signal } : {}) });
      const at = plan.last ? when(plan.last) : undefined;
      return {
        pointInTime: at?.time ?? new Date(unixS * 1000).toISOString(),
        note: `replayed ${plan.applied} archived transactions to ${at ? `${at.gtid} (${at.time})` : 'the backup itself'}, a random second of the archive after the backup${from}`,
      };
    } finally {
      if (fetched) fs.rmSync(fetched, { recursive: true, force: true });
    }
  };
}
