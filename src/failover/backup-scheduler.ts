import type { Secrets, Topology } from '../config/index.js';
import { describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { runBackup } from './backup.js';
import { isBackupDue, parseSchedule, pollIntervalMs } from './backup-schedule.js';
import { listBackups } from './backup-store.js';

/**
 * Scheduled backups (`backup.schedule`, an interval or a cron expression), run inside the supervisor process: a timer asks
 * `isBackupDue` and runs at most one backup at a time. The newest backup on disk is the memory
 * (a restarted supervisor does not take an extra backup); a failure is in the event log and is
 * retried one interval later. `stop()` aborts a running backup (its cleanup restarts the replica's
 * SQL thread) and waits for it, so `down` never leaves a replica held still.
 */
export interface BackupScheduler {
  stop(): Promise<void>;
}

export function startBackupScheduler(topo: Topology, secrets: Secrets, now: () => number = Date.now): BackupScheduler | undefined {
  const schedule = topo.config.backup.schedule;
  if (schedule === undefined) return undefined;
  const parsed = parseSchedule(schedule);
  const startedAt = now();
  let lastAttemptAt: number | undefined;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const ac = new AbortController();

  const tick = (): void => {
    if (stopped || running) return arm();
    const newest = listBackups(topo).backups.at(-1);
    const lastBackupAt = newest ? Date.parse(newest.manifest.startedAt) : undefined;
    if (!isBackupDue({ now: now(), schedule: parsed, lastBackupAt, lastAttemptAt, startedAt })) return arm();
    lastAttemptAt = now();
    running = runBackup({ topo, secrets, trigger: 'schedule', signal: ac.signal })
      .then(() => undefined)
      .catch((e: unknown) => {
        // runBackup logs its own failures; this one covers errors before it could (lock held, no database).
        appendEvent(topo.stateDir, { type: 'step', message: `scheduled backup not taken: ${describeError(e)}`, data: { op: 'backup', step: 'schedule-failed' } });
      })
      .finally(() => {
        running = undefined;
        arm();
      });
  };
  function arm(): void {
    if (stopped) return;
    timer = setTimeout(tick, pollIntervalMs(parsed));
    timer.unref();
  }
  appendEvent(topo.stateDir, {
    type: 'step',
    message: `scheduled backups: ${parsed.kind === 'interval' ? `every ${schedule}` : `cron "${schedule}" (UTC)`}`,
    data: { op: 'backup', step: 'schedule' },
  });
  arm();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      ac.abort(new Error('supervisor stopping'));
      await running;
    },
  };
}
