import path from 'node:path';
import { describeError } from '../shared/errors.js';
import { appendEvent } from '../shared/events.js';
import { appendLog } from '../shared/logfile.js';
import type { FailoverEnv } from './context.js';
import { autoSnapshot, decide, trackAsyncWindow, type AsyncWindow, type AutoDecision, type AutoReason, type AutoState, type DbFacts } from './decide.js';
import { readAsyncWindow, writeAsyncWindow } from './semisync-record.js';
import { gatherDbFacts } from './facts.js';
import { readJournal } from './journal.js';
import { runFailover, runHook, type NodeFencer } from './runbook.js';

/**
 * What one cycle came to: the decision's reason (decide.ts `AutoReason`), or, when it called for
 * a failover, what became of it: vetoed by failover.preFailoverHook, done, or failed (the next
 * cycle resumes it); cycle-error: the cycle itself threw (facts could not be gathered).
 */
export type CycleReason = AutoReason | 'hook-vetoed' | 'failed-over' | 'failover-failed' | 'cycle-error';

export interface CycleOutcome {
  readonly reason: CycleReason;
  /** One line, logged every cycle. */
  readonly message: string;
}

/** Once a second: the primary's death is then acted on within detectionMs + ~1 s. */
const CYCLE_MS = 1_000;

/**
 * The automatic failover mode (`failover.auto`), run inside the supervisor: one `runCycle()` a
 * second reads an immutable snapshot of the MariaDB nodes, asks the pure `decide`, performs at
 * most one action (the whole runbook), and returns the decision as one line. Every line goes to
 * `<stateDir>/failover-auto.log`; a change of action also to the event log.
 */
export class FailoverController {
  private state: AutoState = {};
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private closed = false;
  private lastReason: CycleReason | undefined;
  private window: AsyncWindow | undefined;
  private windowLoaded = false;
  private refused = false;
  private readonly logFile: string;

  constructor(
    private readonly env: FailoverEnv,
    private readonly fencer: NodeFencer,
    private readonly now: () => number = Date.now,
  ) {
    this.logFile = path.join(env.topo.stateDir, 'failover-auto.log');
  }

  /**
   * The primary's semi-sync, recorded every cycle (decide.ts `trackAsyncWindow`): in memory, in
   * `failover-semisync.json` (the operator's failover reads it), and as an event when it changes.
   */
  private trackSemiSync(dbs: readonly DbFacts[], at: number): AsyncWindow | undefined {
    const stateDir = this.env.topo.stateDir;
    if (!this.windowLoaded) {
      this.window = readAsyncWindow(stateDir);
      this.windowLoaded = true;
    }
    const t = trackAsyncWindow(this.window, dbs, at);
    if (t.window !== undefined || this.window !== undefined) {
      try {
        writeAsyncWindow(stateDir, t.window);
      } catch {
        // A full disk: the window is still held here, and written at the next cycle.
      }
    }
    this.window = t.window;
    if (t.change) appendEvent(stateDir, { type: 'failover.semisync', message: `auto failover: ${t.change}`, data: { window: t.window } });
    return t.window;
  }

  async runCycle(): Promise<CycleOutcome> {
    const cfg = this.env.topo.config.failover;
    const finished = readJournal(this.env.topo.stateDir)?.finishedAt;
    const st: AutoState = { ...this.state, ...(finished ? { lastFailoverAt: Date.parse(finished) } : {}) };
    const dbs = await gatherDbFacts(this.env);
    const at = this.now();
    const snap = autoSnapshot(dbs, at, this.trackSemiSync(dbs, at));
    const d: AutoDecision = decide(snap, st, cfg);
    this.state = d.state;
    if (d.action === 'refuse' && !this.refused) {
      appendEvent(this.env.topo.stateDir, {
        type: 'failover.refused',
        message: `auto failover: ${d.message}`,
        data: { reason: d.reason, primary: snap.primary, asyncWindow: snap.asyncWindow },
      });
    }
    this.refused = d.action === 'refuse';
    if (d.action !== 'failover') return { reason: d.reason, message: d.message };
    if (cfg.preFailoverHook) {
      const hook = await runHook(cfg.preFailoverHook, { HASTACK_FAILOVER_FROM: snap.primary ?? '', HASTACK_FAILOVER_REASON: d.message });
      if (hook.code !== 0) {
        return {
          reason: 'hook-vetoed',
          message: `vetoed by failover.preFailoverHook (exit ${hook.code}${hook.output ? `: ${hook.output.split('\n').pop() ?? ''}` : ''}): ${d.message}`,
        };
      }
    }
    try {
      const r = await runFailover(this.env, this.fencer, {});
      this.state = { lastFailoverAt: this.now() };
      return { reason: 'failed-over', message: `${d.message}; failover ${r.journal.id} done: ${r.journal.plan.to} is the primary` };
    } catch (e) {
      return { reason: 'failover-failed', message: `${d.message}; the failover FAILED: ${describeError(e)} (next cycle resumes it)` };
    }
  }

  private log(c: CycleOutcome): void {
    // One line a second: rotated at 1 MiB (~10 000 lines, hours), one old copy; never throws.
    appendLog(this.logFile, `${new Date().toISOString()} ${c.message}\n`, { maxBytes: 1024 * 1024 });
    if (c.reason !== this.lastReason) {
      this.lastReason = c.reason;
      appendEvent(this.env.topo.stateDir, { type: 'failover.decision', message: `auto failover: ${c.message}`, data: { reason: c.reason } });
    }
  }

  start(): void {
    if (this.closed || this.timer) return;
    const tick = (): void => {
      this.running = this.runCycle()
        .then(
          (c) => this.log(c),
          (e: unknown) => this.log({ reason: 'cycle-error', message: `cycle error: ${describeError(e)}` }),
        )
        .finally(() => {
          this.running = undefined;
          if (!this.closed) {
            this.timer = setTimeout(tick, CYCLE_MS);
            this.timer.unref();
          }
        });
    };
    this.timer = setTimeout(tick, CYCLE_MS);
    this.timer.unref();
  }

  /** Stops the loop; waits for a cycle in progress (a running failover finishes its step). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
