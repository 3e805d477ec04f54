import fs from 'node:fs';
import path from 'node:path';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { readJsonState, writeJsonAtomic } from '../shared/files.js';

/**
 * The runbook's journal: `<stateDir>/failover-journal.json`, rewritten (atomically) after every
 * step. A run that was interrupted leaves it unfinished; the next run resumes it with the same
 * plan instead of re-deciding from a cluster that is now half-changed. Each step is also in the
 * event log, for humans; this file is for the runbook.
 */
export type StepName = 'preflight' | 'fence' | 'promote' | 'repoint' | 'redis' | 'services' | 'dns' | 'verify' | 'report';

export interface StepRecord {
  readonly doneAt: string;
  readonly message: string;
}

export interface JournalPlan {
  readonly from: string;
  readonly to: string;
  readonly fromReachable: boolean;
  readonly repoint: readonly string[];
  readonly because: readonly string[];
  readonly facts: readonly string[];
  /** What the operator accepted to lose (`--accept-data-loss`): the old primary's binlog is then not demanded. */
  readonly acceptedLoss?: readonly string[];
}

export interface Journal {
  readonly id: string;
  readonly kind: 'failover' | 'switchover';
  readonly startedAt: string;
  readonly plan: JournalPlan;
  /** The fenced old primary's binlog position, when it could be read: the new primary must have it. */
  readonly fencedBinlog?: string;
  readonly steps: Partial<Record<StepName, StepRecord>>;
  readonly finishedAt?: string;
  /**
   * Why it was given up with nothing promoted (the automatic mode's fence kept failing): finished,
   * but no failover (no anti-flap window from it, nothing to resume; a new failover plans afresh).
   */
  readonly abandoned?: string;
  /** Runs that resumed this journal (1 for a run never interrupted). */
  readonly runs: number;
}

export function journalFile(stateDir: string): string {
  return path.join(stateDir, 'failover-journal.json');
}

/**
 * The journal; undefined when none. Unreadable: a StateCorruptError (read as "none", a half-done
 * failover would be planned afresh from a half-changed cluster).
 */
export function readJournal(stateDir: string): Journal | undefined {
  return readJsonState<Journal>(
    journalFile(stateDir),
    (v) => {
      const j = v as Partial<Journal> | null;
      return typeof j === 'object' && j !== null && typeof j.id === 'string' && typeof j.plan === 'object' && typeof j.steps === 'object' ? undefined : 'not a failover journal';
    },
    'It records an interrupted failover or switchover. Read it, check the cluster by hand ("hastack status"), finish what it lists, then move the file aside',
  );
}

export function writeJournal(stateDir: string, j: Journal): void {
  writeJsonAtomic(journalFile(stateDir), j);
}

/** The unfinished journal to resume, if any. */
export function unfinishedJournal(stateDir: string): Journal | undefined {
  const j = readJournal(stateDir);
  return j && !j.finishedAt ? j : undefined;
}

/** The lock files held by a run of this process: the controllers of a local/netns cluster share one. */
const heldHere = new Set<string>();

/**
 * One runbook at a time per cluster (the operator and the automatic mode could race): an
 * exclusive lock file holding our pid. A lock whose pid is gone was left by a killed run and is
 * taken over (its journal is then resumed); so is one with our pid that no run of ours holds (a
 * run that stopped without its release, or a reused pid). One that a run of this process still
 * holds is not: a controller deposed in the middle of a failover (its election lease lapsed while
 * the supervisor stalled) finishes its run, and the new leader, in the same process, resumes the
 * journal only after it.
 */
export function takeLock(stateDir: string, isAlive: (pid: number) => boolean): () => void {
  const file = path.join(stateDir, 'failover.lock');
  if (heldHere.has(file)) {
    throw new HastackError(
      ErrorCode.CLUSTER_RUNNING,
      'another failover or switchover of this process is running (a controller deposed in the middle of it); it is resumed once that run ends',
    );
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
      heldHere.add(file);
      return () => {
        heldHere.delete(file);
        fs.rmSync(file, { force: true });
      };
    } catch {
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (pid && pid !== process.pid && isAlive(pid)) {
        throw new HastackError(ErrorCode.CLUSTER_RUNNING, `another failover or switchover is running (pid ${pid}); wait for it, or stop it and run this again to resume`);
      }
      fs.rmSync(file, { force: true });
    }
  }
  throw new HastackError(ErrorCode.INTERNAL, `cannot take ${file}; remove it if no failover runs`);
}
