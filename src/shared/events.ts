import fs from 'node:fs';
import path from 'node:path';
import { appendLog } from './logfile.js';

/**
 * The cluster's event log: one JSON object per line in `<stateDir>/events.jsonl`.
 * Writers append (O_APPEND keeps lines whole across processes); readers (the CLI's progress
 * display, the dashboard, chaos reports) tail it. Types are stable strings. Bounded: past
 * EVENTS_MAX_BYTES it moves to `events.jsonl.1` (readers tailing by offset start over at 0).
 * An append never throws (a full disk must not stop the supervisor): a failed one is counted and
 * a `log.lost` event saying how many were lost goes in first once writing works again.
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
  /** The operator stopped, started or drained a service (hastack stop|start|restart|drain). */
  | 'service.operator'
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
  /**
   * The crash plan's fence of a machine that does not answer over SSH (`failover.fence`): the
   * command about to run, then its exit and the tail of its output (`data.output`, bounded, secrets masked).
   */
  | 'failover.fence'
  /** The automatic failover mode's decision, logged when it changes. */
  | 'failover.decision'
  /**
   * The automatic mode would have failed over but refused: the primary was seen acknowledging
   * commits without a replica (semi-sync fell back to asynchronous), so promoting would lose them.
   */
  | 'failover.refused'
  /** The primary's semi-sync changed: fell back to asynchronous (window opened) or back on. */
  | 'failover.semisync'
  /**
   * The automatic mode's own state (issue 23): turned off by a failed automatic failover (`data.why`),
   * paused or resumed by the operator (`hastack pause` / `resume`).
   */
  | 'failover.mode'
  /**
   * The decision quorum (etcd): a controller won or lost the election (`data.controller`), a
   * primary fenced itself because it could not renew its lease (`data.node`), or lifted that fence.
   */
  | 'quorum.leader'
  | 'quorum.fence'
  /**
   * A step of a load balancer's ACME loop (src/lb/acme): `data.step` = lease, order, challenge,
   * issued, installed. One event per step and load balancer.
   */
  | 'acme.step'
  /** An ACME order failed (CA down, validation refused): the current certificate stays served; retried with backoff. */
  | 'acme.failed'
  /** Appends to a log that failed (a full disk) and were dropped, written once writing works again. */
  | 'log.lost';

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

// 32 MiB: weeks of a busy cluster's events (a chaos run writes ~100 KiB), two files at most.
const EVENTS_MAX_BYTES = 32 * 1024 * 1024;

export function appendEvent(stateDir: string, e: Omit<ClusterEvent, 'ts'>): ClusterEvent {
  const full: ClusterEvent = { ts: new Date().toISOString(), ...e };
  try {
    fs.mkdirSync(stateDir, { recursive: true });
  } catch {
    // appendLog below counts the failure.
  }
  appendLog(eventsFile(stateDir), JSON.stringify(full) + '\n', {
    maxBytes: EVENTS_MAX_BYTES,
    onRecovered: (l) => {
      const note: ClusterEvent = {
        ts: full.ts,
        type: 'log.lost',
        message: `${l.count} event(s) could not be written from ${l.firstAt} (${l.lastError}) and are lost`,
        data: { lost: l.count, since: l.firstAt, error: l.lastError, pid: process.pid },
      };
      return JSON.stringify(note) + '\n';
    },
  });
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
