import fs from 'node:fs';
import path from 'node:path';
import { appendEvent } from '../shared/events.js';
import { ErrorCode, HastackError } from '../shared/errors.js';
import { readJsonState, writeJsonAtomic } from '../shared/files.js';

/*
 * The automatic failover's safety valves (issue 23): `failover-auto-mode.json` in the cluster's
 * state directory says whether the automatic mode may act. Absent: on. A failed automatic
 * failover writes `off` with why (it stays off until the operator runs `hastack resume`, since
 * a second automatic attempt on a half-changed cluster is how split brains happen); `hastack
 * pause` writes `paused` for maintenance. The controllers read it every cycle and keep
 * observing (decision lines, the primary's lease) while not acting.
 */

export type AutoModeState = 'on' | 'off' | 'paused';

export interface AutoMode {
  readonly state: AutoModeState;
  /** Why it is off or paused (the failure, or the operator's reason). */
  readonly why?: string;
  readonly since?: string;
  /** Who set it: `auto` (a failed failover), or `operator`. */
  readonly by?: 'auto' | 'operator';
}

export function autoModeFile(stateDir: string): string {
  return path.join(stateDir, 'failover-auto-mode.json');
}

function check(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return 'not an object';
  const s = (v as { state?: unknown }).state;
  return s === 'on' || s === 'off' || s === 'paused' ? undefined : `state is ${JSON.stringify(s)}, not on, off or paused`;
}

/** The mode now; a corrupt file stops with STATE_CORRUPT (never read as "on"). */
export function readAutoMode(stateDir: string): AutoMode {
  const m = readJsonState<AutoMode>(autoModeFile(stateDir), check, `write {"state":"off"} to it, then run "hastack resume" once the cluster is checked`);
  return m ?? { state: 'on' };
}

/** The mode for a loop that must not throw: a corrupt file reads as off (never acts on a guess). */
export function readAutoModeSafe(stateDir: string): AutoMode {
  try {
    return readAutoMode(stateDir);
  } catch (e) {
    return { state: 'off', why: e instanceof Error ? e.message : String(e), by: 'auto' };
  }
}

export function writeAutoMode(stateDir: string, m: AutoMode, at = new Date()): AutoMode {
  const rec: AutoMode = m.state === 'on' ? { state: 'on', since: at.toISOString(), by: m.by ?? 'operator' } : { ...m, since: at.toISOString() };
  fs.mkdirSync(stateDir, { recursive: true });
  writeJsonAtomic(autoModeFile(stateDir), rec);
  appendEvent(stateDir, {
    type: 'failover.mode',
    message: `automatic failover ${rec.state === 'on' ? 'on again' : rec.state === 'paused' ? 'paused' : 'OFF'}${rec.why ? `: ${rec.why}` : ''}`,
    data: { state: rec.state, ...(rec.why ? { why: rec.why } : {}), by: rec.by ?? 'operator' },
  });
  return rec;
}

/** A failed automatic failover: the mode goes off, saying why, until `hastack resume`. */
export function turnOffAfterFailure(stateDir: string, why: string): AutoMode {
  return writeAutoMode(stateDir, { state: 'off', why: `an automatic failover failed: ${why}. Check the cluster ("hastack status"), then "hastack resume"`, by: 'auto' });
}

/**
 * After a failover that stopped before changing anything: `retry` (the mode stays on) or `off`.
 * A refused plan (no replica provably holds every acknowledged commit) is retried as long as it
 * lasts: waiting is the safe answer and conditions change. A failing fence is retried for
 * `budgetMs` (`failover.fenceRetryMs`) from its first failure (`failingSince`), then the mode goes
 * off: a power API that refused once is absorbed; one that keeps failing leaves the cluster to
 * the operator, saying why (issue 23: the fence command exits 1 → automatic mode off). Pure.
 */
export function afterHeldFailover(
  code: string,
  failingSince: number | undefined,
  now: number,
  budgetMs: number,
): { next: 'retry'; failingSince: number | undefined } | { next: 'off'; attemptsForMs: number } {
  if (code !== 'FENCE_FAILED') return { next: 'retry', failingSince };
  const since = failingSince ?? now;
  return now - since >= budgetMs ? { next: 'off', attemptsForMs: now - since } : { next: 'retry', failingSince: since };
}

/** One line for `hastack status` and the dashboard banner: absent when the mode is on. Pure. */
export function describeAutoMode(m: AutoMode): string | undefined {
  if (m.state === 'on') return undefined;
  const since = m.since ? ` since ${m.since}` : '';
  if (m.state === 'paused') return `automatic failover PAUSED${since}${m.why ? ` (${m.why})` : ''}: "hastack resume" turns it back on`;
  return `automatic failover OFF${since}: ${m.why ?? 'no reason recorded'}`;
}

/** What `hastack pause` / `resume` would change, for --dry-run and the real run. Pure. */
export function planModeChange(current: AutoMode, want: 'pause' | 'resume', reason?: string): { next: AutoMode; change: string } | { next: undefined; change: string } {
  if (want === 'pause') {
    if (current.state === 'paused') return { next: undefined, change: 'already paused: nothing to change' };
    return { next: { state: 'paused', why: reason ?? 'maintenance', by: 'operator' }, change: `automatic failover ${current.state} → paused` };
  }
  if (current.state === 'on') return { next: undefined, change: 'already on: nothing to change' };
  return { next: { state: 'on', by: 'operator' }, change: `automatic failover ${current.state} → on${current.why ? ` (was: ${current.why})` : ''}` };
}

export function requireStateDir(stateDir: string): void {
  if (!fs.existsSync(stateDir)) throw new HastackError(ErrorCode.CLUSTER_NOT_RUNNING, `no cluster state in ${stateDir}: run "hastack up" (or deploy) first`);
}
