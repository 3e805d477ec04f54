import type { Secrets, Topology } from '../config/index.js';
import { ErrorCode, HastackError, describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { runBackup } from './backup.js';
import { readDrill, runDrill, type DrillReplay } from './backup-drill.js';
import { isBackupDue, parseSchedule, pollIntervalMs, type Schedule } from './backup-schedule.js';
import { listBackups } from './backup-store.js';

/**
 * Scheduled backups (`backup.schedule`) and restore drills (`backup.drill`), each an interval or a
 * cron expression, run inside the supervisor process: a timer per job asks `isBackupDue` and runs
 * at most one at a time. What is on disk is the memory (the newest backup, the last drill's
 * record), so a restarted supervisor takes no extra one; a failure is in the event log and is
 * retried one interval later. `stop()` aborts what runs (a backup's cleanup restarts the replica's
 * SQL thread, a drill's stops its scratch server) and waits for it, so `down` never leaves a
 * replica held still.
 */
export interface BackupScheduler {
  stop(): Promise<void>;
}

interface Job {
  readonly name: 'backup' | 'drill';
  readonly text: string;
  readonly schedule: Schedule;
  /** Start time of the newest of this job's results on disk. */
  last(): number | undefined;
  run(signal: AbortSignal): Promise<unknown>;
}

export function startBackupScheduler(topo: Topology, secrets: Secrets, now: () => number = Date.now, replay?: DrillReplay): BackupScheduler | undefined {
  const jobs: Job[] = [];
  const { schedule, drill } = topo.config.backup;
  if (schedule !== undefined) {
    jobs.push({
      name: 'backup',
      text: schedule,
      schedule: parseSchedule(schedule),
      last: () => {
        const newest = listBackups(topo).backups.at(-1);
        return newest ? Date.parse(newest.manifest.startedAt) : undefined;
      },
      run: (signal) => runBackup({ topo, secrets, trigger: 'schedule', signal }),
    });
  }
  if (drill !== undefined) {
    jobs.push({
      name: 'drill',
      text: drill,
      schedule: parseSchedule(drill),
      last: () => {
        const r = readDrill(topo);
        return r ? Date.parse(r.at) : undefined;
      },
      // No wait for the lock (stop() must not wait behind it): a busy lock is retried at the next poll.
      run: (signal) => runDrill({ topo, secrets, trigger: 'schedule', signal, ...(replay ? { replay } : {}) }),
    });
  }
  if (jobs.length === 0) return undefined;
  const startedAt = now();
  let stopped = false;
  const ac = new AbortController();
  const running = new Set<Promise<void>>();
  const timers = new Set<NodeJS.Timeout>();

  for (const job of jobs) {
    let lastAttemptAt: number | undefined;
    let busy = false;
    const arm = (): void => {
      if (stopped) return;
      const t = setTimeout(() => {
        timers.delete(t);
        tick();
      }, pollIntervalMs(job.schedule));
      t.unref();
      timers.add(t);
    };
    const tick = (): void => {
      if (stopped || busy) return arm();
      if (!isBackupDue({ now: now(), schedule: job.schedule, lastBackupAt: job.last(), lastAttemptAt, startedAt })) return arm();
      lastAttemptAt = now();
      busy = true;
      const p: Promise<void> = job
        .run(ac.signal)
        .then(() => undefined)
        .catch((e: unknown) => {
          // Another backup or drill holds the lock: not an attempt, ask again at the next poll.
          if (e instanceof HastackError && e.code === ErrorCode.CLUSTER_RUNNING) {
            lastAttemptAt = undefined;
            return;
          }
          // Each job logs its own failures; this covers errors before it could (no database).
          appendEvent(topo.stateDir, {
            type: 'step',
            message: `scheduled ${job.name} not taken: ${describeError(e)}`,
            data: { op: 'backup', step: `${job.name}-schedule-failed` },
          });
        })
        .finally(() => {
          busy = false;
          running.delete(p);
          arm();
        });
      running.add(p);
    };
    appendEvent(topo.stateDir, {
      type: 'step',
      message: `scheduled ${job.name === 'backup' ? 'backups' : 'restore drills'}: ${job.schedule.kind === 'interval' ? `every ${job.text}` : `cron "${job.text}" (UTC)`}`,
      data: { op: 'backup', step: job.name === 'backup' ? 'schedule' : 'drill-schedule' },
    });
    arm();
  }
  return {
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      ac.abort(new Error('supervisor stopping'));
      await Promise.all([...running]);
    },
  };
}
