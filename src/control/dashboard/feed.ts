import type { Secrets, Topology } from '../../config/index.js';
import { eventsSize, readEventsFrom, type ClusterEvent } from '../../shared/events.js';
import { LocalSubstrate } from '../../substrate/index.js';
import { EjectionTracker } from './ejections.js';
import { observedChanges } from './observed.js';
import { dashboardSnapshot } from './snapshot.js';
import type { DashboardStatus, StreamMessage } from './types.js';

/** The page redraws every second: often enough to see a failover happen, cheap on two cores. */
export const FEED_INTERVAL_MS = 1_000;
/** Events a newly opened page gets at once (the timeline's backlog). */
export const BACKLOG_EVENTS = 300;
/**
 * A snapshot this young is answered again rather than probed anew: every probe opens a connection
 * to each database and Redis node, so a flood of `GET /v1/status` must cost one probe per second,
 * not one per request (MariaDB's max_connections is shared with the app).
 */
export const STATUS_TTL_MS = 1_000;
/** At most this much of the log's tail is read for the backlog: an old cluster's log can be long. */
const BACKLOG_BYTES = 1024 * 1024;

export type Subscriber = (m: StreamMessage) => void;

/**
 * The live feed behind `GET /v1/stream`: one poller shared by every open page (a status snapshot
 * every FEED_INTERVAL_MS and the events appended since), running only while a page is open.
 * It only reads: probes, the event log and the run state.
 */
export class StatusFeed {
  private readonly subscribers = new Set<Subscriber>();
  private readonly ejections = new EjectionTracker();
  private readonly recent: ClusterEvent[] = [];
  private offset: number;
  private timer: NodeJS.Timeout | undefined;
  /** True from the first subscriber until the loop sees none left (one loop, never two). */
  private looping = false;
  private closed = false;
  private readonly alive = new LocalSubstrate();
  private last: DashboardStatus | undefined;
  /** The snapshot being taken (every caller meanwhile shares it: one probe at a time, ever). */
  private inFlight: Promise<DashboardStatus> | undefined;
  private cached: { readonly at: number; readonly status: DashboardStatus } | undefined;

  constructor(
    private readonly topo: Topology,
    private readonly secrets: Secrets,
  ) {
    // Start from the log's tail; ejections older than that are long healed or their clients gone.
    this.offset = Math.max(0, eventsSize(topo.stateDir) - BACKLOG_BYTES);
    this.readNewEvents();
  }

  /**
   * Reads what was logged since the last read, keeps it in `recent` and sends it to the open
   * pages. Every reader of the log goes through here, so no event is read without being sent.
   */
  private readNewEvents(): void {
    const { events, offset } = readEventsFrom(this.topo.stateDir, this.offset);
    this.offset = offset;
    if (events.length === 0) return;
    this.ejections.apply(events);
    this.remember(events);
    this.broadcast({ type: 'events', events });
  }

  private remember(events: readonly ClusterEvent[]): void {
    this.recent.push(...events);
    if (this.recent.length > BACKLOG_EVENTS) this.recent.splice(0, this.recent.length - BACKLOG_EVENTS);
  }

  /**
   * A snapshot (also used by `GET /v1/status`): the one being taken if any, else one at most
   * STATUS_TTL_MS old, else a new one. So the probes, and the database connections they open, are
   * bounded whatever the number of callers.
   */
  snapshot(): Promise<DashboardStatus> {
    if (this.inFlight) return this.inFlight;
    if (this.cached && Date.now() - this.cached.at < STATUS_TTL_MS) return Promise.resolve(this.cached.status);
    // Aged from when its probes started: the page's once-a-second loop then always probes anew.
    const at = Date.now();
    const p = this.takeSnapshot().then((status) => {
      this.cached = { at, status };
      return status;
    });
    this.inFlight = p;
    const clear = (): void => {
      if (this.inFlight === p) this.inFlight = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /**
   * A snapshot now. Changes since the previous snapshot that the log does not record (a Sentinel
   * failover, a frozen node) go to the open pages' timelines.
   */
  private async takeSnapshot(): Promise<DashboardStatus> {
    this.readNewEvents();
    this.ejections.forgetPids((pid) => this.alive.isAlive(pid));
    const s = await dashboardSnapshot(this.topo, this.secrets, this.ejections.ejected());
    // Only while the loop runs: a diff against a snapshot from an hour ago would date old changes now.
    if (this.looping && this.last && s.ts > this.last.ts) {
      const seen = observedChanges(this.last.services, s.services, new Date(s.ts).toISOString());
      if (seen.length > 0) {
        this.remember(seen);
        this.broadcast({ type: 'events', events: seen });
      }
    }
    if (this.looping && (!this.last || s.ts > this.last.ts)) this.last = s;
    return s;
  }

  /** Registers a page: it gets the backlog of events now, then every update. Returns the unsubscribe. */
  subscribe(s: Subscriber): () => void {
    this.readNewEvents();
    s({ type: 'events', events: [...this.recent] });
    this.subscribers.add(s);
    if (!this.looping && !this.closed) {
      this.looping = true;
      this.tick(0);
    }
    return () => {
      this.subscribers.delete(s);
      if (this.subscribers.size === 0) this.stopTimer();
    };
  }

  private broadcast(m: StreamMessage): void {
    for (const s of this.subscribers) {
      try {
        s(m);
      } catch {
        // a page that went away mid-write: its close handler unsubscribes it
      }
    }
  }

  private tick(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const t0 = Date.now();
      void this.snapshot()
        .then((status) => this.broadcast({ type: 'status', status }))
        .catch(() => undefined)
        .finally(() => {
          if (this.subscribers.size > 0 && !this.closed) this.tick(Math.max(0, FEED_INTERVAL_MS - (Date.now() - t0)));
          else this.stopLoop();
        });
    }, delayMs);
    this.timer.unref();
  }

  /** Stops a loop that is waiting; one that is taking a snapshot stops by itself when it ends. */
  private stopTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stopLoop();
  }

  private stopLoop(): void {
    this.looping = false;
    this.last = undefined;
  }

  close(): void {
    this.closed = true;
    this.subscribers.clear();
    this.stopTimer();
  }
}
