import fs from 'node:fs';
import path from 'node:path';
import { eventsFile, readEventsFrom, type ClusterEvent } from '../shared/events.js';
import { sleep } from '../shared/retry.js';
import { loadConfigSource, type ConfigOptions } from './config-source.js';
import { parseSince } from './logs.js';
import { isJson, paint, type OutputOptions } from './output.js';

/*
 * `hastack events [-f] [-o json] [--since]`: the cluster's event log (events.jsonl, the rotated
 * half first), and `hastack history`: the role changes it records (failovers, switchovers) and the
 * restores, newest last, like `patronictl history`.
 */

export interface EventsOptions extends ConfigOptions, OutputOptions {
  readonly follow?: boolean;
  readonly since?: string;
}

function stateDirOf(o: ConfigOptions): string {
  const src = loadConfigSource(o);
  return path.join(src.stateRoot, src.config.cluster);
}

/** Every event on record: the rotated file (events.jsonl.1) first, then the current one. */
export function allEvents(stateDir: string): { events: ClusterEvent[]; offset: number } {
  const older: ClusterEvent[] = [];
  const rotated = `${eventsFile(stateDir)}.1`;
  if (fs.existsSync(rotated)) {
    for (const line of fs.readFileSync(rotated, 'utf8').split('\n')) {
      try {
        if (line.trim() !== '') older.push(JSON.parse(line) as ClusterEvent);
      } catch {
        // a torn line: skipped, as readEventsFrom does
      }
    }
  }
  const now = readEventsFrom(stateDir, 0);
  return { events: [...older, ...now.events], offset: now.offset };
}

function eventLine(e: ClusterEvent): string {
  const where = e.node !== undefined ? `${e.node}${e.service !== undefined ? `/${e.service}` : ''}` : '-';
  const bad = /failed|exited|refused|injected/.test(e.type);
  return `${e.ts}  ${paint(e.type.padEnd(18), bad ? 'red' : 'dim')}  ${where.padEnd(20)}  ${e.message}`;
}

export async function eventsCli(o: EventsOptions): Promise<void> {
  const stateDir = stateDirOf(o);
  const since = o.since !== undefined ? parseSince(o.since) : undefined;
  const json = isJson(o);
  const print = (e: ClusterEvent): void => {
    if (since !== undefined && Date.parse(e.ts) < since) return;
    process.stdout.write(json ? `${JSON.stringify(e)}\n` : `${eventLine(e)}\n`);
  };
  const first = allEvents(stateDir);
  if (json && !o.follow) {
    process.stdout.write(
      JSON.stringify(
        first.events.filter((e) => since === undefined || Date.parse(e.ts) >= since),
        null,
        2,
      ) + '\n',
    );
    return;
  }
  first.events.forEach(print);
  if (!o.follow) return;
  // -o json with -f: one JSON object per line (JSON Lines), as the file holds them.
  let offset = first.offset;
  for (;;) {
    // 300 ms: a new event shows within a blink; reading an unchanged file's size costs nothing.
    await sleep(300);
    const next = readEventsFrom(stateDir, offset);
    offset = next.offset;
    next.events.forEach(print);
  }
}

// The steps of a restore that `history` shows: its outcome, one line per restore (verification,
// point in time, into the cluster), and any step that failed.
const RESTORE_OUTCOMES: Readonly<Record<string, readonly string[]>> = {
  'restore-verify': ['verified', 'broken'],
  'restore-pitr': ['restored', 'failed'],
  'restore-cluster': ['done'],
};

/** The events `history` lists: finished or failed role changes, fences, restores. */
export function isHistoryEvent(e: ClusterEvent): boolean {
  if (e.type === 'step') {
    const op = e.data?.['op'];
    const outcomes = typeof op === 'string' ? RESTORE_OUTCOMES[op] : undefined;
    if (outcomes) return outcomes.includes(String(e.data?.['step'])) || / failed/.test(e.message);
    return /restor/i.test(e.message);
  }
  return e.type === 'failover.done' || e.type === 'failover.failed' || e.type === 'failover.fence' || /^restore|^backup\.restore/.test(e.type);
}

export function historyCli(o: ConfigOptions & OutputOptions): void {
  const stateDir = stateDirOf(o);
  const events = allEvents(stateDir).events.filter(isHistoryEvent);
  const journal = path.join(stateDir, 'failover-journal.json');
  const hasJournal = fs.existsSync(journal);
  if (isJson(o)) {
    process.stdout.write(JSON.stringify({ events, ...(hasJournal ? { journal } : {}) }, null, 2) + '\n');
    return;
  }
  if (events.length === 0) {
    process.stdout.write(`no failover, switchover or restore on record for this cluster (${path.join(stateDir, 'events.jsonl')})\n`);
    return;
  }
  for (const e of events) {
    const d = e.data ?? {};
    const move = typeof d.from === 'string' && typeof d.to === 'string' ? `  ${d.from} -> ${d.to}` : '';
    process.stdout.write(`${e.ts}  ${e.type.padEnd(16)}${move}  ${e.message}\n`);
  }
  if (hasJournal) process.stdout.write(`\nthe last run's journal, step by step: ${journal}\n`);
}
