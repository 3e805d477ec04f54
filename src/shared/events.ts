import fs from 'node:fs';
import path from 'node:path';

/**
 * The cluster's event log: one JSON object per line in `<stateDir>/events.jsonl`.
 * Writers append (O_APPEND keeps lines whole across processes); readers (the CLI's progress
 * display, the dashboard, chaos reports) tail it. Types are stable strings.
 */
export type EventType =
  | 'cluster.starting'
  | 'cluster.ready'
  | 'cluster.failed'
  | 'cluster.stopping'
  | 'cluster.stopped'
  | 'service.starting'
  | 'service.healthy'
  | 'service.exited'
  | 'service.restarting'
  | 'service.stopped'
  | 'step'
  | 'fault.injected'
  | 'fault.healed'
  /** A cache client took a memcached node out of its ring (one event per client process). */
  | 'cache.ejected'
  /** A cache client put a memcached node back in its ring after it answered a probe. */
  | 'cache.rejoined'
  /**
   * Seen by the dashboard between two status snapshots (a Sentinel failover, a promotion, a
   * service turning unhealthy). Shown on the page's timeline only, never written to the log:
   * the dashboard is read-only, and the snapshots run only while a page is open.
   */
  | 'role.changed'
  | 'health.changed'
  /** One step of `hastack failover` / `switchover` (src/failover), started, done or failed. */
  | 'failover.step'
  | 'failover.done'
  | 'failover.failed'
  /** The automatic failover mode's decision, logged when it changes. */
  | 'failover.decision';

export interface ClusterEvent {
  readonly ts: string;
  readonly type: EventType;
  readonly message: string;
  readonly node?: string;
  readonly service?: string;
  readonly data?: Record<string, unknown>;
}

export function eventsFile(stateDir: string): string {
  return path.join(stateDir, 'events.jsonl');
}

export function appendEvent(stateDir: string, e: Omit<ClusterEvent, 'ts'>): ClusterEvent {
  const full: ClusterEvent = { ts: new Date().toISOString(), ...e };
  fs.mkdirSync(stateDir, { recursive: true });
  fs.appendFileSync(eventsFile(stateDir), JSON.stringify(full) + '\n');
  return full;
}

/** Events appended after byte `offset`; returns them and the new offset (for tailing). */
export function readEventsFrom(stateDir: string, offset: number): { events: ClusterEvent[]; offset: number } {
  let fd: number;
  try {
    fd = fs.openSync(eventsFile(stateDir), 'r');
  } catch {
    return { events: [], offset };
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size <= offset) return { events: [], offset: size < offset ? 0 : offset };
    const buf = Buffer.alloc(size - offset);
    fs.readSync(fd, buf, 0, buf.length, offset);
    const text = buf.toString('utf8');
    const end = text.lastIndexOf('\n') + 1; // only whole lines
    const events: ClusterEvent[] = [];
    for (const line of text.slice(0, end).split('\n')) {
      if (line.trim() === '') continue;
      try {
        events.push(JSON.parse(line) as ClusterEvent);
      } catch {
        // a torn line from a crashed writer: skip it rather than stop reading the log
      }
    }
    return { events, offset: offset + Buffer.byteLength(text.slice(0, end)) };
  } finally {
    fs.closeSync(fd);
  }
}

export function eventsSize(stateDir: string): number {
  try {
    return fs.statSync(eventsFile(stateDir)).size;
  } catch {
    return 0;
  }
}
