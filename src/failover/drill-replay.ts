import fs from 'node:fs';
import path from 'node:path';
import type { Topology } from '../config/index.js';
import type { DrillReplay } from './backup-drill.js';
import { buildTimeline, planReplay, readArchive } from './binlog-archive-store.js';
import { plainCopy } from './binlog-archive-seal.js';
import { parseGtidList } from './binlog-parse.js';
import { onCurrentHistory, readRestores } from './restore-history.js';
import { replayRun, when } from './restore-pitr.js';

/**
 * The restore drill's binlog replay (`backup.binlogArchive`): the archived transactions after the
 * drilled backup, replayed into the drill's scratch server up to a random second between the
 * first of them and the newest, as `restore --to-time` would. So a drill proves what a real
 * recovery needs, the archive as well as the backup, at a time nobody picked. The tables at that
 * second are not known beforehand: they are checked for readability (backup-drill.ts), and the
 * point reached is recorded. A gap in the archive fails the drill with the restore's message.
 */
export function drillReplay(topo: Topology, root: { readonly password: string }, random: () => number = Math.random): DrillReplay {
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
    const cnf = path.join(scratch.dir, 'client.cnf');
    fs.writeFileSync(cnf, `[client]\nuser=root\npassword=${root.password}\nsocket=${scratch.socket}\n`, { mode: 0o600 });
    const plainDir = path.join(scratch.dir, 'binlogs-plain');
    try {
      for (const run of plan.runs) await replayRun({ ...run, file: plainCopy(run.file, key, plainDir) }, cnf, path.join(topo.stateDir, 'backup.log'), signal);
    } finally {
      fs.rmSync(plainDir, { recursive: true, force: true });
    }
    const at = plan.last ? when(plan.last) : undefined;
    return {
      pointInTime: at?.time ?? new Date(unixS * 1000).toISOString(),
      note: `replayed ${plan.applied} archived transactions to ${at ? `${at.gtid} (${at.time})` : 'the backup itself'}, a random second of the archive after the backup`,
    };
  };
}
